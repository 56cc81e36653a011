"""Request dependencies, named as the routes use them; tests swap them via the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.engine.endpoints import Upstreams
from app.storage.store import RunStore


def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


def get_store(request: Request) -> RunStore:
    return request.app.state.store


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
StoreDep = Annotated[RunStore, Depends(get_store)]
