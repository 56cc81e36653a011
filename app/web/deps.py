"""Request dependencies, named as the routes use them; tests swap them via the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.engine.endpoints import Upstreams
from app.guard.auth import ANONYMOUS, Identity
from app.storage.store import RunStore


def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


def get_store(request: Request) -> RunStore:
    return request.app.state.store


def get_identity(request: Request) -> Identity:
    """Who is asking, as the access guard found out (app/guard/auth_guard.py)."""
    return getattr(request.state, "identity", None) or ANONYMOUS


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
StoreDep = Annotated[RunStore, Depends(get_store)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
