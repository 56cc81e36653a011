"""Everything the routes use, built once at start-up (app/main.py's lifespan) and complete when
built: one typed object, handed to each request through the lifespan's state, so that routes
read typed fields rather than untyped app attributes, and work with no request at all can use
the same services."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.templating import Jinja2Templates

from app.access.rules import Access
from app.engine.endpoints import Upstreams
from app.engine.presets import CompareRequest
from app.engine.sweeps.definition import SweepComparison
from app.guard.limits import ComparisonLimiter
from app.ops.embedded import EmbeddedServer
from app.settings import Settings
from app.storage.evals import EvalStore
from app.storage.store import RunStore
from app.storage.sweeps import SweepStore
from app.web.comparisons import Comparisons
from app.web.evals.running import EvalRunner
from app.web.live_views import LiveComparisons
from app.web.reviews.reviewing import Reviews

NOT_STARTED = "Knobs' services are not there: its lifespan did not run (uvicorn --lifespan off?)"


@dataclass(frozen=True)
class Services:
    settings: Settings
    access: Access
    store: RunStore
    sweeps: SweepStore
    upstreams: Upstreams
    limiter: ComparisonLimiter
    live: LiveComparisons
    embedded: EmbeddedServer | None
    templates: Jinja2Templates
    comparisons: Comparisons[CompareRequest]
    sweep_runs: Comparisons[SweepComparison]
    evals: EvalStore
    eval_runner: EvalRunner
    reviews: Reviews


def services_of(request: Request) -> Services:
    """The services the lifespan built, as the request carries them."""
    services = request.scope.get("state", {}).get("services")
    if not isinstance(services, Services):
        raise RuntimeError(NOT_STARTED)
    return services
