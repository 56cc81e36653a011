"""Knobs' store behind a tiny app, for the durability test to kill: POST /save answers an id.

Run as `KNOBS_TEST_DATABASE_URL=sqlite:///… python -m uvicorn tests.durability_app:app`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.storage.store import RunStore
from app.web.deps import StoreDep
from tests.sample_runs import make_run


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.store = RunStore(os.environ["KNOBS_TEST_DATABASE_URL"])
    try:
        yield
    finally:
        app.state.store.close()


app = FastAPI(lifespan=lifespan)


@app.post("/save")
def save_run(number: int, store: StoreDep) -> dict[str, str]:
    """Save a synthetic run; the id is only answered once the run is committed."""
    return {"id": store.save(make_run(prompt=f"run {number}"))}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
