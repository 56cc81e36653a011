"""An eval on two replicas of one PostgreSQL: started through A, followed through B; A killed
mid-eval (SIGKILL: no goodbye) leaves it interrupted with its finished cells kept, and Resume
through B completes it with only the missing requests, as the fake counts them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2

from app.main import create_app
from app.storage.evals import STALE_SECONDS
from tests import postgres
from tests.conftest import CANARY_KEY, LiveServer, settings_for
from tests.fake_upstream import FakeUpstream
from tests.shipped import make_run_command, on_port
from tests.test_durability import ROOT, free_port, wait_until_up

PARALLEL = 4  # one case at a time: 2 presets x 2 samples


def started_as_make_run(
    tmp_path: Path, fake: FakeUpstream, url: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KNOBS_", "OPENAI_"))}
    environment |= {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": CANARY_KEY,
        "KNOBS_DATA_DIR": str(tmp_path / "a"),
        "DATABASE_URL": url,
        "KNOBS_EVAL_PARALLEL": str(PARALLEL),
    }
    log = tmp_path / "a.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            on_port(make_run_command(), port), cwd=ROOT, env=environment, stdout=out, stderr=out
        )
    address = f"http://127.0.0.1:{port}"
    wait_until_up(address, server, log)
    return server, address


def poll(http: httpx2.Client, url: str, until: Any, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        shown = http.get(url).json()
        if until(shown) or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


def test_started_on_a_followed_on_b_killed_a_resumed_on_b(fake: FakeUpstream, tmp_path: Path):
    fake.behave(text=" ".join(["42"] * 20), chunk_delay=0.04)  # ~0.8 s a request
    body = {
        "cases": [{"prompt": f"Question {i}?", "expected": "42"} for i in range(8)],
        "checks": [{"kind": "final_number"}],
        "presets": [{"name": "Cold", "temperature": 0}, {"name": "Warm", "temperature": 1}],
        "samples": 2,
    }
    total = 8 * 2 * 2
    with postgres.fresh_schema(postgres.server_url()) as url:
        a, a_url = started_as_make_run(tmp_path, fake, url)
        b = create_app(settings_for(fake.base_url, tmp_path / "b", database_url=url))
        try:
            with LiveServer(b) as b_server, httpx2.Client(timeout=30) as http:
                started = http.post(f"{a_url}/api/evals", json=body)
                assert started.status_code == 202, started.text
                on_b = f"{b_server.url}/api/evals/{started.json()['id']}"
                # B shows A's progress, cell by cell, from the store.
                seen = poll(http, on_b, lambda e: e["progress"]["done"] >= 8, 30)
                assert seen["status"] == "running" and 8 <= seen["progress"]["done"] < total
                page = http.get(on_b.replace("/api/evals/", "/evals/")).text
                assert "Running:" in page and 'hx-trigger="every' in page
                a.send_signal(signal.SIGKILL)
                a.wait(timeout=10)
                gone = poll(http, on_b, lambda e: e["status"] == "interrupted", STALE_SECONDS + 10)
                assert gone["status"] == "interrupted"
                kept = gone["progress"]["done"]
                assert 8 <= kept < total and kept % 2 == 0  # whole cells only
                sent = len(fake.requests)
                resumed = http.post(f"{on_b.replace('/api/evals/', '/api/evals/')}/resume")
                assert resumed.status_code == 200, resumed.text
                done = poll(http, on_b, lambda e: e["status"] == "finished", 60)
                assert done["status"] == "finished" and done["progress"]["done"] == total
                assert len(fake.requests) - sent == total - kept
                assert all(f["pass_rate"] == 1.0 for f in done["presets"])
        finally:
            if a.poll() is None:
                a.kill()
                a.wait(timeout=10)
