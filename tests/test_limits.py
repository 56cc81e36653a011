"""Body size, comparisons per client and comparisons at once: refused before any upstream call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.guard import limits
from app.guard.limits import (
    BodyLimit,
    ComparisonLimiter,
    StreamSlot,
    TooManyComparisons,
    comparison_slot,
    explain_too_many,
)
from tests.conftest import LiveServer

MAX_BYTES = 1000


class Ask(BaseModel):
    prompt: str


def small_app(per_minute: int = 1000, max_inflight: int = 5, hold: float = 0.0) -> FastAPI:
    """The comparison routes' shapes, each wired to the limits as create_app wires Knobs."""
    app = FastAPI()
    app.state.limiter = ComparisonLimiter(per_minute, max_inflight)
    app.state.upstream_calls = 0
    app.add_exception_handler(TooManyComparisons, explain_too_many)

    async def call_upstream() -> None:
        app.state.upstream_calls += 1
        await asyncio.sleep(hold)

    @app.post("/api/compare")
    async def compare(ask: Ask, request: Request) -> dict[str, int]:
        async with comparison_slot(request):
            await call_upstream()
        return {"length": len(ask.prompt)}

    @app.post("/", response_class=HTMLResponse)
    async def submit(request: Request) -> str:
        # Only the route knows that "add" edits the form and "run" starts a comparison.
        if (await request.form()).get("action") != "run":
            return "<p>edited</p>"
        async with comparison_slot(request):
            await call_upstream()
        return "<p>ran</p>"

    @app.get("/compare/{token}/events", dependencies=[StreamSlot])
    async def events(token: str) -> StreamingResponse:
        async def frames() -> AsyncIterator[str]:
            await call_upstream()
            yield "event: first\ndata: hello\n\n"
            for _ in range(int(token)):
                await asyncio.sleep(0.05)
                yield ": still working\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    @app.post("/ignore")
    async def ignore() -> dict[str, bool]:
        # Never reads its body, so only the check of Content-Length can refuse it.
        await call_upstream()
        return {"ran": True}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        await call_upstream()
        return {"received": len(body)}

    app.add_middleware(BodyLimit, max_bytes=MAX_BYTES)
    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(small_app()) as test_client:
        yield test_client


def chunks(total: int, size: int = 100) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length for the limit to read up front."""
    for _ in range(total // size):
        yield b"x" * size


# --- body size -------------------------------------------------------------------------------


def test_body_up_to_the_limit_is_accepted(client):
    assert client.post("/echo", content=b"x" * MAX_BYTES).json() == {"received": MAX_BYTES}
    assert client.post("/echo", content=chunks(MAX_BYTES)).json() == {"received": MAX_BYTES}


def test_declared_oversized_body_is_refused_before_the_app_runs(client):
    response = client.post("/ignore", content=b"x" * (MAX_BYTES + 1))
    assert response.status_code == 413
    assert client.post("/api/compare", json={"prompt": "x" * MAX_BYTES}).status_code == 413
    assert client.app.state.upstream_calls == 0


def test_api_413_is_json_that_says_the_limit(client):
    response = client.post("/api/compare", content=chunks(2 * MAX_BYTES))
    assert response.status_code == 413
    assert "1,000 bytes" in response.json()["detail"]


def test_chunked_oversized_body_is_cut_off_at_the_limit(client):
    response = client.post("/echo", content=chunks(5 * MAX_BYTES))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "KNOBS_MAX_BODY_BYTES" in response.text
    assert client.app.state.upstream_calls == 0


def test_oversized_body_over_a_real_socket_gets_a_413():
    app = small_app()
    with LiveServer(app) as server, httpx2.Client(timeout=5) as http:
        response = http.post(f"{server.url}/echo", content=chunks(5 * MAX_BYTES))
        assert response.status_code == 413
        # The server is fine afterwards.
        assert http.post(f"{server.url}/echo", content=b"ok").json() == {"received": 2}
    assert app.state.upstream_calls == 1


# --- comparisons per client ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_the_rate_per_minute():
    clock = Clock()
    limiter = ComparisonLimiter(per_minute=3, max_inflight=100, clock=clock)
    for _ in range(3):
        limiter.admit("10.0.0.1").release()
    with pytest.raises(TooManyComparisons) as refused:
        limiter.admit("10.0.0.1")
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "20"}  # one token every 60/3 s
    limiter.admit("10.0.0.2").release()  # another address has its own bucket
    clock.now += 19
    with pytest.raises(TooManyComparisons):
        limiter.admit("10.0.0.1")
    clock.now += 1
    limiter.admit("10.0.0.1").release()


def test_a_busy_server_does_not_cost_the_client_a_token():
    limiter = ComparisonLimiter(per_minute=2, max_inflight=1, clock=Clock())
    held = limiter.admit("a")
    for _ in range(5):
        with pytest.raises(TooManyComparisons):
            limiter.admit("a")
    held.release()
    held.release()  # idempotent: a second exit path must not free a slot it does not hold
    assert limiter.inflight == 0
    limiter.admit("a").release()  # the second token was still there


def test_idle_clients_are_forgotten(monkeypatch):
    monkeypatch.setattr(limits, "MAX_TRACKED_CLIENTS", 10)
    clock = Clock()
    limiter = ComparisonLimiter(per_minute=60, max_inflight=100, clock=clock)
    for i in range(50):
        limiter.admit(f"10.0.0.{i}").release()
        clock.now += 1  # every earlier bucket has refilled by the next call
    assert len(limiter._buckets) <= 11


def test_rate_limit_answers_429_with_retry_after_before_any_upstream_call():
    app = small_app(per_minute=2)
    with TestClient(app) as client:
        assert [compare(client).status_code for _ in range(2)] == [200, 200]
        refused = compare(client)
        page = client.post("/", data={"action": "run"})
        edit = client.post("/", data={"action": "add"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert "2 a minute" in refused.json()["detail"]
    assert page.status_code == 429 and page.headers["Retry-After"] == "30"
    assert "Too many comparisons" in page.text and page.text.startswith("<!doctype html>")
    assert edit.status_code == 200  # editing the form starts nothing and is never limited
    assert app.state.upstream_calls == 2


def test_stream_is_not_charged_again():
    # The page paid when it asked for the stream's token.
    with TestClient(small_app(per_minute=1)) as client:
        assert [client.get("/compare/1/events").status_code for _ in range(3)] == [200] * 3


def compare(client: TestClient):
    return client.post("/api/compare", json={"prompt": "hi"})


# --- comparisons at once ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_twenty_at_once_against_five_admit_exactly_five(anyio_backend_name):
    app = small_app(max_inflight=5, hold=0.3)
    with LiveServer(app) as server:
        async with httpx2.AsyncClient(base_url=server.url, timeout=5) as http:
            answers = await asyncio.gather(
                *(http.post("/api/compare", json={"prompt": "hi"}) for _ in range(20))
            )
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200] * 5 + [429] * 15
            for refused in (a for a in answers if a.status_code == 429):
                assert int(refused.headers["Retry-After"]) > 0
                assert "at once" in refused.json()["detail"]
            assert app.state.upstream_calls == 5
            # Every slot came back: the next request runs.
            assert (await http.post("/api/compare", json={"prompt": "hi"})).status_code == 200
    assert app.state.limiter.inflight == 0


def test_stream_holds_its_slot_until_it_ends_or_the_client_leaves():
    app = small_app(max_inflight=1)
    limiter: ComparisonLimiter = app.state.limiter
    with LiveServer(app) as server, httpx2.Client(base_url=server.url, timeout=5) as http:
        with http.stream("GET", "/compare/100/events") as stream:
            frames = stream.iter_raw()  # held: dropping the iterator closes the response
            assert b"event: first" in next(frames)
            time.sleep(0.2)
            assert limiter.inflight == 1
            busy = http.get("/compare/1/events")
            assert busy.status_code == 429 and busy.headers["Retry-After"]
        # The client left mid-stream: the app hears it and gives the slot back.
        wait_for(lambda: limiter.inflight == 0)
        # A stream that runs to its end gives it back too.
        assert b"still working" in http.get("/compare/2/events").content
        wait_for(lambda: limiter.inflight == 0)
    assert app.state.upstream_calls == 2


def wait_for(condition, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def anyio_backend_name(anyio_backend: str) -> str:
    return anyio_backend
