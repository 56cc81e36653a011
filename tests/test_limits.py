"""Body size, comparisons per client and comparisons at once: refused before any upstream call.

The HTTP tests drive the real app (create_app with small limits); whether a comparison ran is
read off the fake endpoint, which counts the requests that reached it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.engine.presets import Preset
from app.guard import limits
from app.guard.limits import ComparisonLimiter, MemoryBuckets, TooManyComparisons
from app.main import create_app
from tests.conftest import LiveServer, services, settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_disconnects import wait_for
from tests.test_pages import form_fields, stream_token

MAX_BYTES = 1024  # the smallest KNOBS_MAX_BODY_BYTES allowed
ASK = {"prompt": "hi", "samples": 1, "presets": [{}]}  # one comparison, one upstream request
RUN = form_fields([Preset(name="one")], samples="1")


def knobs(fake: FakeUpstream, data_dir: Path, **settings: object) -> FastAPI:
    """The app Knobs serves, over the fake endpoint, with these settings changed."""
    return create_app(settings_for(fake.base_url, data_dir, **settings))


@pytest.fixture
def app(fake: FakeUpstream, tmp_path: Path) -> FastAPI:
    return knobs(fake, tmp_path, max_body_bytes=MAX_BYTES)


def chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length for the limit to read up front."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def ask_of_size(size: int) -> bytes:
    """A valid /api/compare body of exactly `size` bytes."""
    body = json.dumps(ASK).encode()
    return body.replace(b'"hi"', b'"hi' + b"i" * (size - len(body)) + b'"')


def compare(client: TestClient):
    return client.post("/api/compare", json=ASK)


# --- body size -------------------------------------------------------------------------------


def test_body_up_to_the_limit_is_accepted(client, fake: FakeUpstream):
    body = ask_of_size(MAX_BYTES)
    assert len(body) == MAX_BYTES
    headers = {"Content-Type": "application/json"}
    assert client.post("/api/compare", content=body, headers=headers).status_code == 200
    assert client.post("/api/compare", content=chunks(body), headers=headers).status_code == 200
    assert len(fake.requests) == 2


def test_declared_oversized_body_is_refused_before_the_app_runs(client, fake: FakeUpstream):
    # The stop route never reads its body: only the check of Content-Length can refuse it.
    response = client.post("/compare/any-token/stop", content=b"x" * (MAX_BYTES + 1))
    assert response.status_code == 413
    assert client.post("/api/compare", content=ask_of_size(MAX_BYTES + 1)).status_code == 413
    assert fake.requests == []


def test_api_413_is_json_that_says_the_limit(client):
    response = client.post("/api/compare", content=chunks(ask_of_size(2 * MAX_BYTES)))
    assert response.status_code == 413
    assert "1,024 bytes" in response.json()["detail"]


def test_chunked_oversized_body_is_cut_off_at_the_limit(client, fake: FakeUpstream):
    form = urlencode({**RUN, "prompt": "x" * 5 * MAX_BYTES}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/", content=chunks(form), headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "KNOBS_MAX_BODY_BYTES" in response.text
    assert fake.requests == []


def test_oversized_body_over_a_real_socket_gets_a_413(live_server, fake: FakeUpstream):
    with httpx2.Client(base_url=live_server.url, timeout=5) as http:
        response = http.post("/api/compare", content=chunks(ask_of_size(5 * MAX_BYTES)))
        assert response.status_code == 413
        # The server is fine afterwards.
        assert http.post("/api/compare", json=ASK).status_code == 200
    assert len(fake.requests) == 1


# --- comparisons per client ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_token_bucket_refills_at_the_rate_per_minute():
    clock = Clock()
    limiter = ComparisonLimiter(per_minute=3, max_inflight=100, buckets=MemoryBuckets(clock))
    for _ in range(3):
        (await limiter.admit("10.0.0.1")).release()
    with pytest.raises(TooManyComparisons) as refused:
        await limiter.admit("10.0.0.1")
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "20"}  # one token every 60/3 s
    (await limiter.admit("10.0.0.2")).release()  # another address has its own bucket
    clock.now += 19
    with pytest.raises(TooManyComparisons):
        await limiter.admit("10.0.0.1")
    clock.now += 1
    (await limiter.admit("10.0.0.1")).release()
    assert limiter.inflight == 0  # a refusal gives its slot back


@pytest.mark.anyio
async def test_a_busy_server_does_not_cost_the_client_a_token():
    limiter = ComparisonLimiter(per_minute=2, max_inflight=1, buckets=MemoryBuckets(Clock()))
    held = await limiter.admit("a")
    for _ in range(5):
        with pytest.raises(TooManyComparisons):
            await limiter.admit("a")
    held.release()
    held.release()  # idempotent: a second exit path must not free a slot it does not hold
    assert limiter.inflight == 0
    (await limiter.admit("a")).release()  # the second token was still there


def test_idle_clients_are_forgotten(monkeypatch):
    monkeypatch.setattr(limits, "MAX_TRACKED_CLIENTS", 10)
    clock = Clock()
    buckets = MemoryBuckets(clock)
    for i in range(50):
        assert buckets.take_now(f"10.0.0.{i}", per_minute=60) == 0
        clock.now += 1  # every earlier bucket has refilled by the next call
    assert len(buckets._buckets) <= 11


def test_rate_limit_answers_429_with_retry_after_before_any_upstream_call(
    fake: FakeUpstream, tmp_path: Path
):
    with TestClient(knobs(fake, tmp_path, rate_limit_per_minute=2)) as client:
        assert [compare(client).status_code for _ in range(2)] == [200, 200]
        refused = compare(client)
        page = client.post("/", data=RUN)
        edit = client.post("/", data={**RUN, "action": "add"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert "2 a minute" in refused.json()["detail"]
    assert page.status_code == 429 and page.headers["Retry-After"] == "30"
    assert "Too many comparisons" in page.text and page.text.startswith("<!doctype html>")
    assert edit.status_code == 200  # editing the form starts nothing and is never limited
    assert len(fake.requests) == 2


def test_stream_is_not_charged_again(fake: FakeUpstream, tmp_path: Path):
    # The page paid when it asked for the stream's token.
    with TestClient(knobs(fake, tmp_path, rate_limit_per_minute=1)) as client:
        page = client.post("/", data=RUN, headers={"HX-Request": "true"})
        token = stream_token(page.text)
        streams = [client.get(f"/compare/{token}/events") for _ in range(3)]
        assert [s.status_code for s in streams] == [200] * 3
        assert "event: done" in streams[0].text
        assert compare(client).status_code == 429  # the one comparison a minute was spent
    assert len(fake.requests) == 1


# --- comparisons at once ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_twenty_at_once_against_five_admit_exactly_five(fake: FakeUpstream, tmp_path: Path):
    fake.behave(latency=1.0)  # the five admitted hold their slots while the rest arrive
    app = knobs(fake, tmp_path, max_inflight_comparisons=5)
    with LiveServer(app) as server:
        async with httpx2.AsyncClient(base_url=server.url, timeout=10) as http:
            answers = await asyncio.gather(
                *(http.post("/api/compare", json=ASK) for _ in range(20))
            )
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200] * 5 + [429] * 15
            for refused in (a for a in answers if a.status_code == 429):
                assert int(refused.headers["Retry-After"]) > 0
                assert "at once" in refused.json()["detail"]
            assert len(fake.requests) == 5
            # Every slot came back: the next request runs.
            fake.behave()
            assert (await http.post("/api/compare", json=ASK)).status_code == 200
        assert services(server).limiter.inflight == 0


def test_stream_holds_its_slot_until_it_ends_or_the_client_leaves(
    fake: FakeUpstream, tmp_path: Path
):
    app = knobs(fake, tmp_path, max_inflight_comparisons=1)
    fake.behave(text=" ".join(["drip"] * 200), chunk_delay=0.05)
    with LiveServer(app) as server, httpx2.Client(base_url=server.url, timeout=5) as http:
        limiter: ComparisonLimiter = services(server).limiter
        token = stream_token(http.post("/", data=RUN, headers={"HX-Request": "1"}).text)
        with http.stream("GET", f"/compare/{token}/events") as stream:
            frames = stream.iter_raw()  # held: dropping the iterator closes the response
            while b"event: " not in next(frames):
                pass
            assert limiter.inflight == 1
            busy = http.post("/api/compare", json=ASK)
            assert busy.status_code == 429 and busy.headers["Retry-After"]
        # The client left mid-stream: the app hears it and gives the slot back.
        wait_for(lambda: limiter.inflight == 0, seconds=3.0)
        # A stream that runs to its end gives it back too.
        fake.behave()
        token = stream_token(http.post("/", data=RUN, headers={"HX-Request": "1"}).text)
        assert b"event: done" in http.get(f"/compare/{token}/events").content
        wait_for(lambda: limiter.inflight == 0, seconds=3.0)
    assert len(fake.requests) == 2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
