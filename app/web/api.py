"""The JSON API: the same comparison engine as the page, for scripts and checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from app.engine.caps import over_caps
from app.engine.fanout import run_comparison
from app.engine.presets import CompareRequest
from app.engine.upstream import UpstreamError
from app.guard.limits import comparison_slot
from app.storage.saved import SavedComparison
from app.web.deps import SettingsDep, StoreDep, UpstreamsDep
from app.web.hangup import unless_client_leaves

router = APIRouter(prefix="/api", tags=["api"])


ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "A cross-site request (Origin / Sec-Fetch-Site) was refused."},
    413: {"description": "The body is larger than KNOBS_MAX_BODY_BYTES."},
    422: {"description": "Invalid input or over a cap; each failing field is named."},
    429: {"description": "Too many comparisons; see the Retry-After header."},
}


@router.post("/compare", response_model=SavedComparison, responses=ERRORS)
async def compare(
    body: CompareRequest,
    request: Request,
    upstreams: UpstreamsDep,
    store: StoreDep,
    settings: SettingsDep,
) -> SavedComparison:
    """Run the prompt under every preset, `samples` times each, and return every answer
    with its stats and flags. Knobs that are absent or null are not sent to the endpoint.
    The run is saved first: `id` and `url` are its permalink."""
    problems = over_caps(body, settings, upstreams.names)
    if problems:
        detail = [
            {"field": f, "loc": ["body", f], "msg": m, "type": "cap"} for f, m in problems.items()
        ]
        raise HTTPException(status_code=422, detail=detail)
    async with comparison_slot(request):
        comparison = await unless_client_leaves(request, run_comparison(body, upstreams))
    run_id = await store.save_comparison(body, comparison, endpoint=upstreams.default.endpoint.name)
    url = str(request.url_for("show_run", run_id=run_id))
    return SavedComparison(**comparison.model_dump(), id=run_id, url=url)


@router.get("/models")
async def list_models(upstreams: UpstreamsDep) -> dict[str, object]:
    """The default endpoint's models (`models`, `error`), and every configured endpoint's
    under `endpoints`: its models, or the reason they could not be read."""
    endpoints: dict[str, dict[str, object]] = {}
    for name, upstream in upstreams.by_name.items():
        try:
            endpoints[name] = {"models": await upstream.models(), "error": None}
        except UpstreamError as error:
            endpoints[name] = {"models": [], "error": str(error)}
    return {**endpoints[upstreams.default.endpoint.name], "endpoints": endpoints}
