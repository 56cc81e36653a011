"""A live view that any replica can serve: the page's POST on one process, its event stream
and Stop on another. Two whole Knobs on one PostgreSQL, `uvicorn --workers 2` on SQLite, and
the live tables themselves: claimed once, read in order, stopped from anywhere, expired."""

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

from app.engine.presets import Preset, builtin_presets
from app.main import create_app
from app.storage.live_frames import (
    FRAMES,
    UNCLAIMED_SECONDS,
    VIEWS,
    FollowerView,
    LiveStore,
    RunnerView,
    new_token,
)
from app.storage.outages import StoreUnavailable
from app.storage.store import RunStore
from app.web import live_views as live_module
from app.web.live_views import LiveComparisons
from app.web.templating import build_templates
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
        return [dict(row) for row in conn.execute(sa.select(VIEWS)).mappings()]


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
                assert summary.stopped  # the stopped run was saved, by the replica that ran it
            finally:
                store.close()
    deadline = time.monotonic() + 5
    while fake.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.in_flight == 0  # Stop closed every upstream request


def test_a_tab_that_leaves_a_stream_on_another_replica_stops_the_comparison(
    fake: FakeUpstream, tmp_path: Path
):
    fake.behave(text=" ".join(["slow"] * 400), chunk_delay=0.1)
    with postgres.fresh_schema(postgres.server_url()) as url:
        a, b = (
            create_app(settings_for(fake.base_url, tmp_path / n, database_url=url)) for n in "ab"
        )
        with LiveServer(a) as one, LiveServer(b) as two, httpx2.Client(timeout=30) as http:
            page = http.post(f"{one.url}/", data=form_fields([Preset(name="only")]), headers=HX)
            token = stream_token(page.text)
            with http.stream("GET", f"{two.url}/compare/{token}/events") as events:
                read_until(events.iter_lines(), ">slow ")
            deadline = time.monotonic() + 5  # 40 s of answer left; Stop within about 1 s
            while fake.in_flight and time.monotonic() < deadline:
                time.sleep(0.05)
            assert fake.in_flight == 0


# --- uvicorn --workers 2 on one SQLite file -----------------------------------------------


def test_two_workers_stream_each_others_comparisons(fake: FakeUpstream, tmp_path: Path):
    fake.behave(text="Teal.")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:create_app",
        "--workers",
        "2",
    ]
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


def test_a_view_is_claimed_once_whichever_replica_asks(replicas):
    here, there = LiveStore(replicas[0].engine), LiveStore(replicas[1].engine)
    token = here.add()
    assert there.claim(token)
    assert not here.claim(token) and not there.claim(token)
    here.finish(token)
    assert rows(replicas[0]) == []
    assert not there.claim("not-a-token")


def test_frames_written_on_one_replica_are_read_on_another_in_order(replicas):
    runner, follower = LiveStore(replicas[0].engine), LiveStore(replicas[1].engine)
    token = runner.add()
    assert runner.write(token, 0, ["a", "b"], ended=False) == RunnerView(False, False)
    first = follower.read(token, 0)
    assert first is not None and first.frames == ["ab"] and not first.ended
    assert follower.claim(token)
    runner.write(token, 1, ["c"], ended=False)
    assert runner.write(token, 2, ["d"], ended=True) == RunnerView(claimed=True, stopped=False)
    rest = follower.read(token, first.next_batch)
    assert rest is not None and rest.frames == ["c", "d"] and rest.ended
    assert follower.read(token, rest.next_batch) == FollowerView([], 3, True, rest.touched)
    follower.finish(token)
    assert follower.read(token, 0) is None


def test_stop_reaches_the_replica_that_runs_it(replicas):
    runner, other = LiveStore(replicas[0].engine), LiveStore(replicas[1].engine)
    token = runner.add()
    assert runner.write(token, 0, [], ended=False) == RunnerView(False, False)
    assert other.stop(token)
    assert runner.write(token, 0, [], ended=False).stopped
    assert not other.stop("unknown-token")
    runner.write(token, 0, [], ended=True)
    assert not other.stop(token)  # it has ended: nothing to stop


def test_an_unclaimed_view_expires_and_is_then_deleted(replicas):
    now = [1_000_000.0]
    store = LiveStore(replicas[0].engine, clock=lambda: now[0])
    late = store.add()
    store.write(late, 0, ["frame"], ended=False)
    now[0] += UNCLAIMED_SECONDS + 1
    assert not store.claim(late)
    fresh = store.add()  # adding clears out what has expired, frames and all
    assert len(rows(replicas[0])) == 1
    with replicas[0].engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(FRAMES)) == 0
    assert store.claim(fresh)
    assert store.write(late, 1, [], ended=False).stopped  # its runner learns it is gone
    # A view whose tab left before the end: deleted once it has ended a while ago.
    store.write(fresh, 0, ["frame"], ended=True)
    now[0] += UNCLAIMED_SECONDS + 1
    store.add()
    assert len(rows(replicas[0])) == 1


def test_a_stream_on_another_replica_says_so_when_the_runner_dies(replicas, monkeypatch):
    monkeypatch.setattr(live_module, "LOST_AFTER", 0.3)
    silent = LiveStore(replicas[0].engine, clock=lambda: time.time() - 60)  # wrote long ago
    token = silent.add()
    silent.write(token, 0, ["event: text\ndata: so far\n\n"], ended=False)

    async def follow() -> list[str]:
        frames = await LiveComparisons(LiveStore(replicas[1].engine), build_templates()).follow(
            token
        )
        assert frames is not None
        return [f async for f in frames]

    got = asyncio.run(follow())
    assert got[0].startswith("event: text") and "stopped answering" in got[-1]


def test_a_live_view_with_a_custom_endpoint_streams_from_another_replica(
    fake: FakeUpstream, tmp_path: Path
):
    """Two Knobs on one SQLite file: the key stays in the memory of the replica that runs the
    comparison, and reaches only the endpoint."""
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
    live = LiveComparisons(LiveStore(down), build_templates())

    async def never_runs(feed: object) -> None:
        raise AssertionError("a comparison started without its live view")

    async def scenario() -> None:
        with pytest.raises(StoreUnavailable):
            await live.start(never_runs)
        assert await live.follow(new_token()) is None  # "ended or expired", not a 500
        assert not await live.stop(new_token())

    try:
        asyncio.run(scenario())
    finally:
        down.dispose()
