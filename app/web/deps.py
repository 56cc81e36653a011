"""Request dependencies, named as the routes use them; tests swap them via the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.engine.endpoints import Upstreams
from app.guard.auth import Identity
from app.storage.store import RunStore


def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


def get_store(request: Request) -> RunStore:
    return request.app.state.store


def get_identity(request: Request) -> Identity:
    """Who is asking, as the access guard found out (app/guard/auth_guard.py). A route the
    guard leaves open to everyone has no one to name: asking there fails closed."""
    who = getattr(request.state, "identity", None)
    if who is None:
        raise HTTPException(401, detail="Sign in first.")
    return who


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
StoreDep = Annotated[RunStore, Depends(get_store)]
IdentityDep = Annotated[Identity, Depends(get_identity)]
