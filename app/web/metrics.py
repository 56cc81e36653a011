"""`/metrics`: the Prometheus text exposition of what this process counted (app/ops/metrics.py).

Who may read it is the access door's call (app/access/door.py): open only where Knobs needs no
login; elsewhere the access token or KNOBS_METRICS_TOKEN.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.web.deps import UpstreamsDep

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def show_metrics(upstreams: UpstreamsDep) -> Response:
    """The Prometheus text exposition of what this app counted."""
    return Response(upstreams.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
