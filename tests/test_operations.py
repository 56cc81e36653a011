"""Operations: Prometheus metrics, JSON logs without secrets, graceful shutdown."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
from fastapi.testclient import TestClient

from app.main import create_app
from app.ops import logs
from app.ops.collector import YOUNG
from tests.conftest import CANARY_KEY, settings_for
from tests.fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head == (f"{name}{{{want}}}" if want else name):
            return float(value)
    return 0.0


def test_metrics_count_comparisons_requests_and_latency(client, fake: FakeUpstream):
    before = client.get("/metrics").text
    fake.behave_for("broken", status=500)
    body = {"prompt": "hi", "samples": 2, "presets": [{}, {"model": "broken"}]}
    assert client.post("/api/compare", json=body).status_code == 200
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def grew(name: str, **labels: str) -> float:
        return metric(text, name, **labels) - metric(before, name, **labels)

    assert grew("knobs_comparisons_total", outcome="finished") == 1
    assert grew("knobs_upstream_requests_total", endpoint="default", status="stop") == 2
    assert grew("knobs_upstream_requests_total", endpoint="default", status="error") == 2
    assert grew("knobs_upstream_latency_seconds_count", endpoint="default") == 4
    assert grew("knobs_upstream_ttft_seconds_count", endpoint="default") == 2
    assert metric(text, "knobs_comparisons_in_flight") == 0
    assert metric(text, "knobs_upstream_in_flight", endpoint="default") == 0


def test_json_logs_carry_fields_and_no_secrets(fake: FakeUpstream, tmp_path, capsys):
    fake.behave(status=401, error_message=f"bad key {CANARY_KEY}")
    app = create_app(settings_for(fake.base_url, tmp_path, log_format="json", log_level="debug"))
    with TestClient(app) as client:
        client.post("/api/compare", json={"prompt": "secret prompt text", "presets": [{}]})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    done = [line for line in lines if line["message"] == "comparison finished"]
    assert done and done[0]["failed_samples"] == 2 and done[0]["endpoints"] == ["default"]
    assert {"time", "level", "logger"} <= set(done[0])
    everything = json.dumps(lines)
    assert CANARY_KEY not in everything and "secret prompt text" not in everything
    logs.configure(settings_for(None, tmp_path))  # back to text for the other tests
    logging.getLogger("knobs").handlers.clear()


def test_sigterm_lets_a_running_comparison_finish(fake: FakeUpstream, tmp_path):
    fake.behave(text=" ".join(["slow"] * 10), chunk_delay=0.15)  # about 1.5 s
    env = {
        **os.environ,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-unused",
        "KNOBS_DATA_DIR": str(tmp_path),
        "KNOBS_UPSTREAM_RETRIES": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", "0",
         "--timeout-graceful-shutdown", "20"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = None
        assert server.stderr is not None
        for line in server.stderr:
            if "Uvicorn running on" in line:
                port = int(line.rsplit(":", 1)[1].split()[0])
                break
        assert port, "uvicorn did not start"
        result: dict[str, httpx2.Response] = {}

        def ask() -> None:
            body = {"prompt": "hi", "samples": 1, "presets": [{}]}
            result["r"] = httpx2.post(f"http://127.0.0.1:{port}/api/compare", json=body, timeout=30)

        asker = threading.Thread(target=ask)
        asker.start()
        deadline = time.monotonic() + 5
        while fake.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.send_signal(signal.SIGTERM)  # mid-comparison
        asker.join(timeout=30)
        # uvicorn re-raises the signal once it has shut down cleanly, hence -SIGTERM.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        if server.stderr:
            server.stderr.close()
    response = result["r"]
    assert response.status_code == 200
    sample = response.json()["columns"][0]["samples"][0]
    assert sample["error"] is None and sample["text"].count("slow") == 10


def test_each_app_counts_into_its_own_registry(fake: FakeUpstream, tmp_path: Path):
    """Two apps in one process (workers, tests) do not count into each other's /metrics."""
    first = create_app(settings_for(fake.base_url, tmp_path / "one"))
    second = create_app(settings_for(fake.base_url, tmp_path / "two"))
    ask = {"prompt": "Hi", "presets": [{}], "samples": 1}
    with TestClient(first) as one, TestClient(second) as two:
        assert one.post("/api/compare", json=ask).status_code == 200
        counted = 'knobs_comparisons_total{outcome="finished"} 1.0'
        assert counted in one.get("/metrics").text
        assert counted not in two.get("/metrics").text
        assert "process_resident_memory_bytes" in two.get("/metrics").text


def test_start_up_is_frozen_for_the_collector_while_the_app_serves(fake: FakeUpstream, tmp_path):
    # What start-up built lives as long as the process: full collections skip it (a tenth of
    # Knobs' CPU under load, bench.load), and it is handed back when the app stops.
    gc.unfreeze()
    before = gc.get_threshold()
    with TestClient(create_app(settings_for(fake.base_url, tmp_path))) as client:
        frozen = gc.get_freeze_count()
        assert gc.get_threshold()[0] == YOUNG
        answer = client.post("/api/compare", json={"prompt": "hi", "presets": [{}]})
        assert answer.status_code == 200
    assert frozen > 10_000
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
