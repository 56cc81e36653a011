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

ServicesDep = Annotated[Services, Depends(services_of)]


def get_identity(request: Request) -> Identity:
    """Who is asking, as the access guard found out (app/access/door.py). A route the
    guard leaves open to everyone has no one to name: asking there fails closed."""
    who = getattr(request.state, "identity", None)
    if who is None:
        raise HTTPException(401, detail="Sign in first.")
    return who


def get_caller(request: Request) -> Caller:
    """Who runs a comparison (saved with it) and from which address (charged for it)."""
    return Caller(get_identity(request).name, client_host(request.scope) or "unknown")


IdentityDep = Annotated[Identity, Depends(get_identity)]
CallerDep = Annotated[Caller, Depends(get_caller)]


def _store(services: ServicesDep) -> RunStore:
    return services.store


def _sweeps(services: ServicesDep) -> SweepStore:
    return services.sweeps


def _upstreams(services: ServicesDep) -> Upstreams:
    return services.upstreams


def _comparisons(services: ServicesDep) -> Comparisons[CompareRequest]:
    return services.comparisons


def _sweep_runs(services: ServicesDep) -> Comparisons[SweepComparison]:
    return services.sweep_runs


StoreDep = Annotated[RunStore, Depends(_store)]
SweepStoreDep = Annotated[SweepStore, Depends(_sweeps)]
UpstreamsDep = Annotated[Upstreams, Depends(_upstreams)]
ComparisonsDep = Annotated[Comparisons[CompareRequest], Depends(_comparisons)]
SweepRunsDep = Annotated[Comparisons[SweepComparison], Depends(_sweep_runs)]


def _evals(services: ServicesDep) -> EvalStore:
    return services.evals


def _eval_runner(services: ServicesDep) -> EvalRunner:
    return services.eval_runner


EvalStoreDep = Annotated[EvalStore, Depends(_evals)]
EvalRunnerDep = Annotated[EvalRunner, Depends(_eval_runner)]
