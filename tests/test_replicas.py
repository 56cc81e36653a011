"""A live view that any replica can serve: the page's POST on one process, its event stream
and Stop on another. Two whole Knobs on one PostgreSQL, `uvicorn --workers 2` on SQLite, and
the live table itself: claimed once, expired, and never holding a user's key in clear."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.engine.presets import CompareRequest, Preset, builtin_presets
from app.main import create_app
from app.storage.live import LIVE, UNCLAIMED_SECONDS, LiveStore, new_token
from app.storage.outages import StoreUnavailable
from app.storage.store import RunStore
from app.web.live import LiveComparisons
from tests import postgres, test_store
from tests.conftest import LiveServer, settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_durability import ROOT, free_port, wait_until_up
from tests.test_pages import form_fields, stream_token

USER_KEY = "user-own-key-5678"
ENDED = "has ended or expired"
HX = {"HX-Request": "true"}


def read_until(lines: Iterator[str], marker: str, seconds: float = 30.0) -> str:
    """The stream's lines up to the first holding `marker`; heartbeats keep them coming."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    for line in lines:
        seen.append(line)
        if marker in line:
            return "\n".join(seen)
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no {marker!r} within {seconds:g} s:\n" + "\n".join(seen[-20:]))


def rows(store: RunStore) -> list[dict[str, object]]:
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.select(LIVE)).mappings()]


# --- two whole Knobs on one PostgreSQL ------------------------------------------------------


def test_posted_on_one_replica_streamed_on_another_and_stopped_from_the_first(
    fake: FakeUpstream, tmp_path: Path
):
    fake.behave(text=" ".join(["slow"] * 400), chunk_delay=0.1)
    with postgres.fresh_schema(postgres.server_url()) as url:
        a, b = (
            create_app(settings_for(fake.base_url, tmp_path / n, database_url=url)) for n in "ab"
        )
        with LiveServer(a) as one, LiveServer(b) as two, httpx2.Client(timeout=30) as http:
            page = http.post(f"{one.url}/", data=form_fields(builtin_presets()), headers=HX)
            token = stream_token(page.text)
            with http.stream("GET", f"{two.url}/compare/{token}/events") as events:
                lines = events.iter_lines()
                read_until(lines, ">slow ")  # the answers arrive (after each request's Sent)
                assert http.post(f"{one.url}/compare/{token}/stop").status_code == 204
                read_until(lines, "event: done")
                assert "Stopped after" in "\n".join(lines)  # the done frame, then the end
            # The stream ended, so the comparison is gone: neither replica serves it again.
            for replica in (one, two):
                with http.stream("GET", f"{replica.url}/compare/{token}/events") as again:
                    assert ENDED in again.read().decode()
            store = RunStore(url)
            try:
                assert rows(store) == []
                (summary,), _ = store.list_runs()
                assert summary.stopped  # the stopped run was saved, by the replica that streamed
            finally:
                store.close()
    deadline = time.monotonic() + 5
    while fake.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.in_flight == 0  # Stop closed every upstream request


# --- uvicorn --workers 2 on one SQLite file -----------------------------------------------


def test_two_workers_stream_each_others_comparisons(fake: FakeUpstream, tmp_path: Path):
    fake.behave(text="Teal.")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--workers", "2"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KNOBS_DATABASE_URL")}
    env.update(OPENAI_BASE_URL=fake.base_url, KNOBS_DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "server.log"
    fields = form_fields([Preset(name="only")], samples="1")
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        try:
            wait_until_up(base, server, log)
            for _ in range(24):
                # A client per request: a new connection, which either worker may accept.
                token = stream_token(httpx2.post(f"{base}/", data=fields, headers=HX).text)
                with httpx2.stream("GET", f"{base}/compare/{token}/events", timeout=30) as events:
                    body = events.read().decode()
                assert ">Teal.<" in body and "Finished in" in body, body
        finally:
            server.terminate()
            server.wait(30)
    assert b"Traceback" not in log.read_bytes()


# --- the live table --------------------------------------------------------------------------


url = test_store.url  # the same two databases, empty: a SQLite file, a PostgreSQL schema


def custom(key: str | None = USER_KEY) -> CompareRequest:
    api_key = SecretStr(key) if key else None
    preset = Preset(name="mine", base_url="https://llm.example.com/v1", api_key=api_key)
    return CompareRequest(prompt="hi", samples=1, presets=[Preset(name="ours"), preset])


def test_a_token_is_claimed_once_whichever_replica_asks(replicas):
    here, there = LiveStore(replicas[0].engine), LiveStore(replicas[1].engine)
    request = custom()
    token = here.add(request, [2, 5])
    claimed = there.claim(token)
    assert claimed is not None and claimed.request == request and claimed.columns == [2, 5]
    assert claimed.request.presets[1].api_key == SecretStr(USER_KEY)
    assert not claimed.stopped
    assert here.claim(token) is None and there.claim(token) is None
    here.finish(token)
    assert rows(replicas[0]) == []
    assert there.claim("not-a-token") is None


def test_stop_reaches_the_replica_that_streams(replicas):
    here, there = LiveStore(replicas[0].engine), LiveStore(replicas[1].engine)
    token = here.add(custom(None), [0, 1])
    assert not there.stopped(token)
    assert here.stop(token)
    assert there.stopped(token)
    claimed = there.claim(token)  # Stop before the stream connected: it starts stopped
    assert claimed is not None and claimed.stopped
    assert not here.stop("unknown-token")


def test_an_unclaimed_comparison_expires_and_is_then_deleted(replicas):
    now = [1_000_000.0]
    store = LiveStore(replicas[0].engine, clock=lambda: now[0])
    late = store.add(custom(), [0, 1])
    now[0] += UNCLAIMED_SECONDS + 1
    assert store.claim(late) is None
    fresh = store.add(custom(), [0, 1])  # adding clears out what has expired
    assert len(rows(replicas[0])) == 1
    assert store.claim(fresh) is not None


def test_a_custom_endpoints_key_is_never_stored_in_clear(replicas, url: str, tmp_path: Path):
    store = LiveStore(replicas[0].engine)
    token = store.add(custom(), [0, 1])
    (row,) = rows(replicas[0])
    assert USER_KEY not in str(row) and token not in str(row)
    assert row["sealed_keys"]  # sealed, so a replica can open it with the token
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert USER_KEY.encode() not in file.read_bytes(), file
    claimed = LiveStore(replicas[1].engine).claim(token)
    assert claimed is not None and claimed.request.presets[1].api_key == SecretStr(USER_KEY)
    (row,) = rows(replicas[0])
    assert row["sealed_keys"] is None  # wiped once claimed: the stream holds the key now


def test_a_key_is_not_handed_to_an_altered_request(replicas):
    store = LiveStore(replicas[0].engine)
    token = store.add(custom(), [0, 1])
    altered = custom().model_copy(deep=True)
    altered.presets[1].base_url = "https://attacker.example.com/v1"
    with replicas[0].engine.begin() as conn:
        conn.execute(sa.update(LIVE).values(request=altered.model_dump_json()))
    assert store.claim(token) is None


def test_a_live_view_with_a_custom_endpoint_streams_from_another_replica(
    fake: FakeUpstream, tmp_path: Path
):
    """Two Knobs on one SQLite file: the key travels sealed and reaches only the endpoint."""
    settings = settings_for(
        "http://127.0.0.1:9/v1", tmp_path, allow_custom_endpoints=True, allowed_hosts="127.0.0.1"
    )
    fields = {"prompt": "hi", "samples": "1", "action": "run", "p-0-name": "mine"}
    fields.update({"p-0-base_url": fake.base_url, "p-0-api_key": USER_KEY})
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        token = stream_token(a.post("/", data=fields, headers=HX).text)
        for file in tmp_path.rglob("*"):
            if file.is_file():
                assert USER_KEY.encode() not in file.read_bytes(), file
        with b.stream("GET", f"/compare/{token}/events") as events:
            body = "".join(events.iter_text())
    assert "Finished in" in body and USER_KEY not in body
    (received,) = fake.requests
    assert received.headers["authorization"] == f"Bearer {USER_KEY}"


# --- while the database is unavailable --------------------------------------------------------


def test_without_the_database_no_live_view_is_promised():
    # A live view kept in one process's memory would be lost to a stream that reaches another
    # replica; the page runs the comparison to the end instead (tests/test_outages.py).
    down = sa.create_engine(
        f"postgresql+psycopg://knobs@127.0.0.1:{free_port()}/knobs",
        connect_args={"connect_timeout": 2},
    )
    live = LiveComparisons(LiveStore(down))

    async def scenario() -> None:
        with pytest.raises(StoreUnavailable):
            await live.add(custom(), [3, 4])
        assert await live.claim(new_token()) is None  # "ended or expired", not a 500
        assert not await live.stop(new_token())

    try:
        asyncio.run(scenario())
    finally:
        down.dispose()
