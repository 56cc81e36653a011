"""Request dependencies, named as the routes use them: each a field of the one `Services`
(app/web/services.py), or who is asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.access.rules import Identity, client_host
from app.engine.endpoints import Upstreams
from app.engine.presets import CompareRequest
from app.engine.sweeps.definition import SweepComparison
from app.storage.evals import EvalStore
from app.storage.store import RunStore
from app.storage.sweeps import SweepStore
from app.web.comparisons import Caller, Comparisons
from app.web.evals.running import EvalRunner
from app.web.services import Services, services_of


# The dependencies below only read what the request already carries, so they are coroutines:
# FastAPI runs a plain `def` dependency in its thread pool, a hop there and back for each
# (four on POST /api/compare) that bench.load counted in Knobs' CPU per request.
async def _services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(_services)]


async def get_identity(request: Request) -> Identity:
    """Who is asking, as the access guard found out (app/access/door.py). A route the
    guard leaves open to everyone has no one to name: asking there fails closed."""
    who = getattr(request.state, "identity", None)
    if who is None:
        raise HTTPException(401, detail="Sign in first.")
    return who


IdentityDep = Annotated[Identity, Depends(get_identity)]


async def _caller(request: Request, who: IdentityDep) -> Caller:
    """Who runs a comparison (saved with it) and from which address (charged for it)."""
    return Caller(who.name, client_host(request.scope) or "unknown")


CallerDep = Annotated[Caller, Depends(_caller)]


async def _store(services: ServicesDep) -> RunStore:
    return services.store


async def _sweeps(services: ServicesDep) -> SweepStore:
    return services.sweeps


async def _upstreams(services: ServicesDep) -> Upstreams:
    return services.upstreams


async def _comparisons(services: ServicesDep) -> Comparisons[CompareRequest]:
    return services.comparisons


async def _sweep_runs(services: ServicesDep) -> Comparisons[SweepComparison]:
    return services.sweep_runs


StoreDep = Annotated[RunStore, Depends(_store)]
SweepStoreDep = Annotated[SweepStore, Depends(_sweeps)]
UpstreamsDep = Annotated[Upstreams, Depends(_upstreams)]
ComparisonsDep = Annotated[Comparisons[CompareRequest], Depends(_comparisons)]
SweepRunsDep = Annotated[Comparisons[SweepComparison], Depends(_sweep_runs)]


async def _evals(services: ServicesDep) -> EvalStore:
    return services.evals


async def _eval_runner(services: ServicesDep) -> EvalRunner:
    return services.eval_runner


EvalStoreDep = Annotated[EvalStore, Depends(_evals)]
EvalRunnerDep = Annotated[EvalRunner, Depends(_eval_runner)]
