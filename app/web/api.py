"""The JSON API: the same comparison engine as the page, for scripts and checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from app.engine.presets import CompareRequest
from app.storage.saved import SavedComparison
from app.web.deps import CallerDep, ComparisonsDep, UpstreamsDep
from app.web.hangup import unless_client_leaves
from app.web.saved_items import where_saved
from app.web.saved_kinds import RUNS

router = APIRouter(prefix="/api", tags=["api"])


ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "A cross-site request (Origin / Sec-Fetch-Site) was refused."},
    413: {"description": "The body is larger than KNOBS_MAX_BODY_BYTES."},
    422: {"description": "Invalid input or over a cap; each failing field is named."},
    429: {"description": "Too many comparisons; see the Retry-After header."},
}


def refuse_over_caps(problems: dict[str, str]) -> None:
    """422 naming each field over a cap, in the shape of a validation error."""
    if problems:
        detail = [
            {"field": f, "loc": ["body", f], "msg": m, "type": "cap"} for f, m in problems.items()
        ]
        raise HTTPException(status_code=422, detail=detail)


@router.post("/compare", response_model=SavedComparison, responses=ERRORS)
async def compare(
    request: Request, body: CompareRequest, comparisons: ComparisonsDep, caller: CallerDep
) -> SavedComparison:
    """Run the prompt under every preset, `samples` times each, and return every answer
    with its stats and flags. Knobs that are absent or null are not sent to the endpoint.
    The run is saved first: `id` and `url` are its permalink. Should saving fail, the
    answers still come back, with `id` and `url` null and `not_saved` saying why."""
    refuse_over_caps(comparisons.problems(body))
    finished = await unless_client_leaves(request, comparisons.run(body, caller))
    return SavedComparison(
        **finished.comparison.model_dump(), **where_saved(request, RUNS, finished)
    )


@router.get("/models")
async def list_models(upstreams: UpstreamsDep, all_models: bool = False) -> dict[str, object]:
    """The default endpoint's chat models (`models`), the model a preset that names none gets
    (`default_model`) and `error`, and the same for every configured endpoint under
    `endpoints`. With `all_models=true`, every model listed: embeddings, speech and the like
    too."""
    listed = await upstreams.list_models()
    endpoints = {
        name: {"models": x.shown(all_models), "default_model": x.default, "error": x.error}
        for name, x in listed.items()
    }
    return {**endpoints[upstreams.default.endpoint.name], "endpoints": endpoints}
