"""`POST /api/sweep`: the sweep engine for scripts, as `/api/compare` is for comparisons."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.engine.sweeps.definition import SweepRequest, Vary
from app.storage.sweeps import SweepPoint, sweep_points
from app.web.api import ERRORS, refuse_over_caps
from app.web.deps import CallerDep, SweepRunsDep
from app.web.hangup import unless_client_leaves
from app.web.saved_items import where_saved
from app.web.saved_kinds import SWEEPS

router = APIRouter(prefix="/api", tags=["api"])


class SweepAnswer(BaseModel):
    """The sweep's points, each with its column (as a comparison's) and its measures."""

    id: str | None = Field(description="the saved sweep's id; null when it could not be saved")
    url: str | None = Field(description="the saved sweep's permalink; null when not saved")
    not_saved: str | None = Field(
        default=None, description="why the sweep was not saved (the answers are complete)"
    )
    vary: list[Vary]
    points: list[SweepPoint]


@router.post("/sweep", response_model=SweepAnswer, responses=ERRORS)
async def sweep(
    request: Request, body: SweepRequest, runs: SweepRunsDep, caller: CallerDep
) -> SweepAnswer:
    """Run the prompt at every point of the sweep — the base preset with the varied knobs
    set, one knob or a grid of two — `samples` times each, through the same fan-out, limits
    and caps as a comparison, and return every point's answers, flags and measures
    (distinct answers ÷ samples, share truncated, mean answer tokens, median latency).
    Saved first: `id` and `url` are its permalink, null with `not_saved` if saving failed."""
    compare = body.comparison()
    refuse_over_caps(runs.problems(compare))
    finished = await unless_client_leaves(request, runs.run(compare, caller))
    points = sweep_points(compare, finished.comparison)
    return SweepAnswer(vary=body.vary, points=points, **where_saved(request, SWEEPS, finished))
