"""`/api/evals`: start an eval (it runs on the server), follow it, stop it, resume it.

`GET /api/evals/{eval_id}`, its exports and DELETE are a saved kind's routes
(app/web/saved_items.py, app/web/saved_kinds.py).
"""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.engine.evals import preflight
from app.engine.evals.definition import EvalRequest
from app.storage.evals import EvalView, Status, eval_view
from app.web.api import ERRORS, refuse_over_caps
from app.web.deps import CallerDep, EvalRunnerDep, EvalStoreDep, IdentityDep, ServicesDep
from app.web.hangup import unless_client_leaves
from app.web.saved_kinds import EVALS

router = APIRouter(prefix="/api", tags=["api"])
NOT_YOURS = "Only the person who started this eval, or an admin (KNOBS_ADMINS), can {verb} it."


class EvalPost(EvalRequest):
    wait: bool = Field(
        default=False,
        description="answer 200 with the finished eval instead of 202 at once; the eval runs "
        "on the server either way, and goes on if the client leaves",
    )

    def definition(self) -> EvalRequest:
        """The eval without `wait`, its objects kept as they are (a preset's key included)."""
        return EvalRequest(**{name: getattr(self, name) for name in EvalRequest.model_fields})


class EvalStarted(BaseModel):
    id: str
    url: str = Field(description="the eval's permalink: its progress while it runs")
    status: Status


def eval_problems(services: Any, definition: EvalRequest) -> dict[str, str]:
    return preflight.problems(definition, services.settings, services.upstreams.names)


@router.post(
    "/evals",
    status_code=202,
    response_model=EvalStarted,
    responses={**ERRORS, 200: {"model": EvalView, "description": "with wait: the finished eval"}},
)
async def start_eval(
    request: Request, body: EvalPost, services: ServicesDep, caller: CallerDep
) -> Any:
    """Run every case under every preset, `samples` times each, on the server, and check each
    answer. Answers 202 with the eval's id and permalink at once (poll `GET /api/evals/{id}`),
    or with `"wait": true` 200 and the finished eval. Problems are refused at their field
    (422) before any request: an unknown check kind, a bad regex or schema, a case with no
    value for a template's variable or no expected answer for a check that needs one, and
    more requests than KNOBS_MAX_EVAL_REQUESTS."""
    definition = body.definition()
    refuse_over_caps(await run_sync(eval_problems, services, definition))
    runner = services.eval_runner
    eval_id = await runner.start(definition, caller)
    url = str(request.url_for("show_eval", eval_id=eval_id))
    if not body.wait:
        return JSONResponse({"id": eval_id, "url": url, "status": "running"}, status_code=202)
    # The client leaving ends the wait, not the eval.
    await unless_client_leaves(request, runner.wait(eval_id))
    stored = await services.evals.aget(eval_id)
    if stored is None:
        raise HTTPException(404, detail=EVALS.missing)
    return JSONResponse(eval_view(stored).model_dump(mode="json"))


async def _owned(evals: Any, eval_id: str, who: Any, verb: str) -> None:
    stored = await evals.aget(eval_id)
    if stored is None:
        raise HTTPException(404, detail=EVALS.missing)
    if not who.may_delete(stored.author):
        raise HTTPException(403, detail=NOT_YOURS.format(verb=verb))


@router.post("/evals/{eval_id}/stop", responses={404: {}, 403: {}, 409: {}})
async def stop_eval(
    eval_id: str, evals: EvalStoreDep, runner: EvalRunnerDep, who: IdentityDep
) -> EvalStarted:
    """Stop a running eval, from any replica: cells in flight are dropped, finished ones kept,
    and Resume runs the rest later. 409 when it is not running."""
    await _owned(evals, eval_id, who, "stop")
    if not await runner.stop(eval_id):
        raise HTTPException(409, detail="This eval is not running.")
    return EvalStarted(id=eval_id, url=f"/evals/{eval_id}", status="stopped")


@router.post("/evals/{eval_id}/resume", responses={404: {}, 403: {}, 409: {}})
async def resume_eval(
    eval_id: str, evals: EvalStoreDep, runner: EvalRunnerDep, who: IdentityDep, caller: CallerDep
) -> EvalStarted:
    """Run an interrupted or stopped eval's missing cells, and only those, on this replica.
    409 when it is running (elsewhere too) or finished."""
    await _owned(evals, eval_id, who, "resume")
    if await runner.resume(eval_id, caller) is None:
        raise HTTPException(409, detail="This eval is running or finished: nothing to resume.")
    return EvalStarted(id=eval_id, url=f"/evals/{eval_id}", status="running")
