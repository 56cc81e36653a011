"""Comparisons that Knobs answered with a permalink are all there after it is killed with
SIGKILL mid-stream: on SQLite (the file) and on PostgreSQL (a server the killed process was
writing to). Knobs runs as users run it, `uvicorn --factory app.main:create_app`, over the
fake endpoint."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.storage.store import RunStore, default_url
from tests import postgres
from tests.fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent
SAVES = 400
KILL_AFTER = 100  # acknowledged saves before the kill; the rest are still being sent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the test server exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the test server did not start:\n{log.read_text()}")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield default_url(tmp_path)
    else:
        with postgres.fresh_schema(postgres.server_url()) as url:
            yield url


def test_acknowledged_runs_survive_sigkill(url: str, tmp_path: Path, fake: FakeUpstream):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {
        **os.environ,
        "OPENAI_BASE_URL": fake.base_url,
        "KNOBS_DATABASE_URL": url,
        "KNOBS_DATA_DIR": str(tmp_path),
        "KNOBS_LOG_LEVEL": "warning",
        # One client sends every comparison here; the rate limit is another test's subject.
        "KNOBS_RATE_LIMIT_PER_MINUTE": "100000",
    }
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def save(number: int) -> None:
        ask = {"prompt": f"run {number}", "samples": 1, "presets": [{}]}
        request = urllib.request.Request(
            f"{base}/api/compare",
            data=json.dumps(ask).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                run_id = json.load(response).get("id")
        except (OSError, http.client.HTTPException, ValueError):
            return  # not acknowledged: the server died first, so nothing is promised
        if not run_id:
            return  # answered but not saved: no permalink, so nothing is promised
        with lock:
            acknowledged[run_id] = f"run {number}"
            if len(acknowledged) >= KILL_AFTER:
                enough.set()

    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        try:
            wait_until_up(base, server, log)
            with ThreadPoolExecutor(16) as pool:
                for number in range(SAVES):
                    pool.submit(save, number)
                assert enough.wait(30), "too few saves were acknowledged"
                os.kill(server.pid, signal.SIGKILL)
                killed_at = len(acknowledged)
        finally:
            server.kill()
            server.wait(10)
    assert server.returncode == -signal.SIGKILL
    assert len(acknowledged) >= KILL_AFTER
    assert killed_at < SAVES  # the kill came while saves were still arriving

    store = RunStore(url)  # reopening recovers SQLite's write-ahead log, then migrates (a no-op)
    try:
        for run_id, prompt in acknowledged.items():
            run = store.get(run_id)
            assert run is not None, f"acknowledged run {run_id} was lost"
            assert run.prompt == prompt
        if store.engine.dialect.name == "sqlite":
            with store.engine.connect() as conn:
                assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        store.close()
