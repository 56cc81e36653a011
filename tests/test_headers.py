"""Security headers on every response, a stream that still streams, and /docs without a CDN."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from app.guard.security_headers import SecurityHeaders
from app.web import docs
from app.web.templating import ROOT
from tests.conftest import LiveServer

EXPECTED = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


class StreamProbe:
    """What the streaming route's generator went through, seen from the test thread."""

    def __init__(self) -> None:
        self.finished = threading.Event()  # ran to its end
        self.closed = threading.Event()  # its `finally` ran, however it ended


def small_app(probe: StreamProbe | None = None) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(docs.router)
    probe = probe or StreamProbe()

    @app.get("/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<!doctype html><p>hello</p>"

    @app.post("/api/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/own-policy")
    async def own_policy() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "default-src 'none'"})

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def frames() -> AsyncIterator[str]:
            try:
                yield "event: first\ndata: hello\n\n"
                # Writing is how a departed client is noticed, as in app/stream.py.
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    yield ": still working\n\n"
                probe.finished.set()
            finally:
                probe.closed.set()

        return StreamingResponse(frames(), media_type="text/event-stream")

    app.add_middleware(SecurityHeaders)
    return app


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/page", 200),
        ("POST", "/api/thing", 200),
        ("GET", "/static/app.css", 200),
        ("GET", "/docs", 200),
        ("GET", "/no-such-page", 404),
        ("POST", "/page", 405),
    ],
)
def test_every_response_carries_the_security_headers(method, path, status):
    with TestClient(small_app()) as client:
        response = client.request(method, path)
    assert response.status_code == status
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, name
    assert len(response.headers.get_list("content-security-policy")) == 1


def test_a_route_that_sets_its_own_policy_keeps_it():
    with TestClient(small_app()) as client:
        response = client.get("/own-policy")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert response.headers["x-frame-options"] == "DENY"


def test_stream_goes_out_unbuffered_and_the_app_sees_the_client_leave():
    probe = StreamProbe()
    with LiveServer(small_app(probe)) as server, httpx2.Client(timeout=5) as client:
        with client.stream("GET", f"{server.url}/events") as response:
            assert (
                response.headers["content-security-policy"] == EXPECTED["content-security-policy"]
            )
            # Hold on to the iterator: dropping it closes the response (httpx closes on exit).
            frames = response.iter_raw()
            # The first frame is here while the generator still has seconds to go.
            assert b"event: first" in next(frames)
            time.sleep(0.3)
            assert not probe.closed.is_set(), "the stream ended while the client was there"
        # Leaving closes the connection; the app must notice and close the generator.
        assert probe.closed.wait(3), "the app never heard that the client left"
        assert not probe.finished.is_set()


def test_api_docs_are_served_from_this_server_with_no_inline_code():
    with TestClient(small_app()) as client:
        html = client.get("/docs").text
        scripts = re.findall(r"<script\b([^>]*)>", html)
        assert scripts and all(re.search(r'src="/static/[^"]+"', attrs) for attrs in scripts)
        assert "<style" not in html and "style=" not in html
        assert 'data-openapi-url="/openapi.json"' in html
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert client.get(asset).status_code == 200, asset
