"""POST /api/compare against the fake endpoint over real sockets."""

from __future__ import annotations

import contextlib
import socket

import pytest
from fastapi.testclient import TestClient

from app.engine.presets import MAX_PRESETS, CompareRequest
from app.main import create_app
from tests.conftest import CANARY_KEY, settings_for
from tests.fake_upstream import FakeUpstream


def compare(client, **body):
    body.setdefault("prompt", "Say something.")
    body.setdefault("presets", [{"temperature": 0}])
    return client.post("/api/compare", json=body)


def test_the_largest_comparison_goes_out_in_one_wave(fake: FakeUpstream, tmp_path):
    # Long enough that the first answer cannot come back before the last request has gone
    # out, however loaded the machine: then the count in flight tells one wave from two.
    fake.behave(latency=2.0)
    most_samples = CompareRequest.model_json_schema()["properties"]["samples"]["maximum"]
    presets = [{"name": f"p{i}", "temperature": i / 10} for i in range(MAX_PRESETS)]
    # The default settings: no endpoint limit is lifted for the test.
    app = create_app(settings_for(fake.base_url, tmp_path))
    with TestClient(app) as client:
        response = compare(client, presets=presets, samples=most_samples)
    assert response.status_code == 200
    assert len(fake.requests) == MAX_PRESETS * most_samples
    # All were in flight together: the wall time is one latency, not two waves of it.
    assert fake.max_in_flight == MAX_PRESETS * most_samples
    columns = response.json()["columns"]
    assert [c["preset"]["name"] for c in columns] == [f"p{i}" for i in range(MAX_PRESETS)]
    assert all(len(c["samples"]) == most_samples for c in columns)


def test_concurrency_limit_per_endpoint_is_respected(fake: FakeUpstream, tmp_path):
    fake.behave(latency=0.2)
    app = create_app(settings_for(fake.base_url, tmp_path, concurrency_per_endpoint=4))
    with TestClient(app) as client:
        assert compare(client, presets=[{}, {}, {}], samples=4).status_code == 200
    assert len(fake.requests) == 12
    assert fake.max_in_flight == 4


def test_sample_carries_text_stats_and_fingerprint(client, fake: FakeUpstream):
    fake.behave(text="Hello there, friend.", fingerprint="fp_one")
    sample = compare(client, samples=1).json()["columns"][0]["samples"][0]
    assert sample["text"] == "Hello there, friend."
    assert sample["finish_reason"] == "stop"
    assert sample["usage"]["completion_tokens"] == 3
    assert sample["usage"]["prompt_tokens"] is not None
    assert sample["system_fingerprint"] == "fp_one"
    assert sample["ttft_ms"] > 0 and sample["latency_ms"] >= sample["ttft_ms"]
    assert sample["error"] is None


def test_unset_knobs_are_not_sent_and_top_k_is_in_the_body(client, fake: FakeUpstream):
    preset = {"model": "fake-model-large", "temperature": 0.4, "top_k": 20, "stop": ["\n\n"]}
    assert compare(client, presets=[preset], samples=1).status_code == 200
    sent = fake.requests[0].body
    assert sent["model"] == "fake-model-large"
    assert sent["temperature"] == 0.4 and sent["top_k"] == 20 and sent["stop"] == ["\n\n"]
    assert sent["stream"] is True
    for unset in ("top_p", "max_tokens", "frequency_penalty", "presence_penalty", "seed"):
        assert unset not in sent


def test_requests_say_nothing_about_this_server(client, fake: FakeUpstream):
    # The SDK would name its version, the OS, the architecture and the Python version.
    assert compare(client, presets=[{}], samples=1).status_code == 200
    headers = fake.requests[0].headers
    assert headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert not [name for name in headers if name.startswith("x-stainless")]


def test_model_defaults_to_the_first_listed(client, fake: FakeUpstream):
    compare(client, presets=[{}], samples=1)
    assert fake.requests[0].body["model"] == "fake-model"


def test_system_message_goes_first(client, fake: FakeUpstream):
    compare(client, system="Be brief.", prompt="Hi", samples=1)
    assert fake.requests[0].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_truncated_flag(client, fake: FakeUpstream):
    fake.behave(text="one two three four five six seven eight")
    columns = compare(client, presets=[{"max_tokens": 3}, {"max_tokens": 100}]).json()["columns"]
    assert columns[0]["flags"]["truncated"] is True
    assert columns[0]["samples"][0]["finish_reason"] == "length"
    assert columns[1]["flags"]["truncated"] is False
    assert any("below 32" in w for w in columns[0]["warnings"])


def test_nondeterministic_flags(client, fake: FakeUpstream):
    fake.behave(texts=["Paris is the capital.", "Paris is lovely.", "Paris is the capital."])
    column = compare(client, presets=[{"temperature": 0.9}], samples=3).json()["columns"][0]
    flags = column["flags"]
    assert flags["nondeterministic"] is True and flags["distinct"] == 2
    assert flags["first_divergence"] == len("Paris is ")
    assert flags["expected_deterministic"] is False


def test_unexpectedly_nondeterministic_at_temperature_zero_or_seed(client, fake: FakeUpstream):
    fake.behave(nondeterministic=True)
    presets = [{"temperature": 0}, {"seed": 7}, {"temperature": 1}]
    flags = [c["flags"] for c in compare(client, presets=presets).json()["columns"]]
    assert [f["expected_deterministic"] for f in flags] == [True, True, False]
    assert all(f["nondeterministic"] for f in flags)


def flags_say_what_was_answered(client, body: dict) -> int:
    """Run `body`, one column at T=0 or with a seed, and check that its flags and its saved
    run say what the answers show, whichever that is; the number of distinct answers."""
    answer = client.post("/api/compare", json=body).json()
    column = answer["columns"][0]
    samples = column["samples"]
    assert all(s["error"] is None and s["text"] for s in samples), samples
    distinct = len({s["text"] for s in samples})
    flags = column["flags"]
    assert flags["expected_deterministic"] is True
    assert flags["distinct"] == distinct
    assert flags["nondeterministic"] is (distinct > 1)
    assert (flags["first_divergence"] is None) is (distinct == 1)
    shown = client.get(f"/r/{answer['id']}.md").text
    if distinct > 1:
        assert f"unexpectedly nondeterministic: {distinct} distinct of {len(samples)}" in shown
        assert "repeatable" not in shown
    else:
        assert f"repeatable: {len(samples)} identical" in shown
        assert "nondeterministic" not in shown
    return distinct


@pytest.mark.parametrize(("behaviour", "distinct"), [({}, 1), ({"nondeterministic": True}, 2)])
def test_temperature_zero_is_flagged_as_it_answered(
    client, fake: FakeUpstream, behaviour: dict, distinct: int
):
    # The real model may answer either way at T=0 (tests/test_embedded.py); both are run here.
    fake.behave(**behaviour)
    body = {"prompt": "What is 2 + 2?", "samples": 2, "presets": [{"temperature": 0}]}
    assert flags_say_what_was_answered(client, body) == distinct


def test_deterministic_when_answers_match(client, fake: FakeUpstream):
    flags = compare(client, samples=3).json()["columns"][0]["flags"]
    assert flags["nondeterministic"] is False and flags["distinct"] == 1
    assert flags["first_divergence"] is None


def test_fingerprint_drift(client, fake: FakeUpstream):
    fake.behave(fingerprint=["fp_a", "fp_b"])
    assert compare(client).json()["columns"][0]["flags"]["fingerprint_drift"] is True
    fake.behave(fingerprint="fp_a")
    assert compare(client).json()["columns"][0]["flags"]["fingerprint_drift"] is False


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "API key"), (404, "model name"), (429, "Rate limited"), (500, "failed (500)")],
)
def test_upstream_errors_stay_in_their_column(client, fake: FakeUpstream, status, words):
    fake.behave_for("broken-model", status=status)
    presets = [{"model": "broken-model"}, {"model": "fake-model"}]
    columns = compare(client, presets=presets).json()["columns"]
    assert all(words in s["error"] for s in columns[0]["samples"])
    assert all(s["error"] is None and s["text"] for s in columns[1]["samples"])
    assert "sk-test-canary-key" not in str(columns)


def test_broken_stream_keeps_partial_text_marked_incomplete(client, fake: FakeUpstream):
    fake.behave(text="alpha beta gamma delta", break_after=2)
    sample = compare(client, samples=1).json()["columns"][0]["samples"][0]
    assert sample["text"] == "alpha beta "
    assert sample["incomplete"] is True and sample["error"]


def test_malformed_stream_is_an_error(client, fake: FakeUpstream):
    fake.behave(malformed_after=1)
    sample = compare(client, samples=1).json()["columns"][0]["samples"][0]
    assert "malformed" in sample["error"]


def test_unreachable_endpoint_is_reported(tmp_path):
    with socket_closed_port() as port:
        app = create_app(settings_for(f"http://127.0.0.1:{port}/v1", tmp_path))
        with TestClient(app) as client:
            body = compare(client, presets=[{"model": "m"}], samples=1).json()
    assert "Could not reach" in body["columns"][0]["samples"][0]["error"]


@contextlib.contextmanager
def socket_closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    yield port


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"presets": [{"temperature": 2.5}]}, "presets[0].temperature", "between 0 and 2"),
        ({"presets": [{"top_p": 1.2}]}, "presets[0].top_p", "between 0 and 1"),
        ({"presets": [{"max_tokens": 0}]}, "presets[0].max_tokens", "between 1 and"),
        ({"presets": [{}] * 9}, "presets", "between 1 and 8"),
        ({"samples": 6}, "samples", "between 1 and 5"),
        ({"prompt": ""}, "prompt", "Write a prompt"),
        ({"presets": [{"temprature": 1}]}, "presets[0].temprature", "Unknown field"),
    ],
)
def test_invalid_input_names_the_field(client, fake: FakeUpstream, body, field, words):
    response = compare(client, **body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(d["field"] == field and words in d["msg"] for d in detail), detail
    assert fake.requests == []


def test_missing_prompt(client, fake: FakeUpstream):
    response = client.post("/api/compare", json={"presets": [{}]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "prompt"


def test_models_endpoint(client, fake: FakeUpstream):
    listed: dict[str, object] = {"models": ["fake-model", "fake-model-large"], "error": None}
    listed["default_model"] = "fake-model"
    assert client.get("/api/models").json() == {**listed, "endpoints": {"default": listed}}


def test_healthz_and_openapi(client):
    assert client.get("/healthz").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/compare" in spec["paths"]


def test_a_stalled_endpoint_is_given_up_after_the_timeout(fake: FakeUpstream, tmp_path):
    fake.behave_for("stalled", hang=True)
    app = create_app(settings_for(fake.base_url, tmp_path, request_timeout=0.5))
    with TestClient(app) as client:
        presets = [{"model": "stalled"}, {"model": "fake-model"}]
        columns = compare(client, presets=presets, samples=1).json()["columns"]
    assert "No complete answer within 0.5 s" in columns[0]["samples"][0]["error"]
    assert columns[1]["samples"][0]["error"] is None
