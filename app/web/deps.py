"""Request dependencies, named as the routes use them; tests swap them via the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.engine.endpoints import Upstreams
from app.settings import Settings
from app.storage.store import RunStore
from app.web.live import LiveComparisons


def get_upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


def get_live(request: Request) -> LiveComparisons:
    return request.app.state.live


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> RunStore:
    return request.app.state.store


UpstreamsDep = Annotated[Upstreams, Depends(get_upstreams)]
StoreDep = Annotated[RunStore, Depends(get_store)]
LiveDep = Annotated[LiveComparisons, Depends(get_live)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
