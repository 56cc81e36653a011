"""The JSON API: the same comparison engine as the page, for scripts and checks."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import UpstreamDep
from app.fanout import run_comparison
from app.presets import CompareRequest
from app.results import Comparison
from app.upstream import UpstreamError

router = APIRouter(prefix="/api", tags=["api"])


@router.post("/compare", response_model=Comparison)
async def compare(request: CompareRequest, upstream: UpstreamDep) -> Comparison:
    """Run the prompt under every preset, `samples` times each, and return every answer
    with its stats and flags. Knobs that are absent or null are not sent to the endpoint."""
    return await run_comparison(request, upstream)


@router.get("/models")
async def list_models(upstream: UpstreamDep) -> dict[str, object]:
    """The models the endpoint lists, or the reason they could not be read."""
    try:
        return {"models": await upstream.models(), "error": None}
    except UpstreamError as error:
        return {"models": [], "error": str(error)}
