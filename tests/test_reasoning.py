"""Today's models through the real app: reasoning models that refuse knobs, reasoning and
refusal streams, servers that reject stream_options, and exactly what each column sent.

One row of issue 9's table per test where it says so; the fake speaks each dialect.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.engine.presets import Preset, builtin_presets, effort_presets
from app.main import create_app
from tests.conftest import CANARY_KEY, settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields, stream_token

REASONER = "o3-fake"  # a reasoning model on the fake, beside its classic "fake-model"
THOUGHT = "Let me think this through."
ANSWER = "Paris is the capital."


def compare(client: TestClient, presets: list[dict[str, Any]], samples: int = 1) -> Any:
    body = {"prompt": "Capital of France?", "samples": samples, "presets": presets}
    response = client.post("/api/compare", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def reasoner(fake: FakeUpstream, **knobs: Any) -> None:
    fake.behave_for(REASONER, reasoning_model=True, reasoning=THOUGHT, text=ANSWER, **knobs)


def adjusted(column: dict[str, Any]) -> dict[str, tuple[str, str | None, str]]:
    return {a["param"]: (a["action"], a["to"], a["reason"]) for a in column["adjustments"]}


def test_max_tokens_is_sent_as_max_completion_tokens_and_the_column_says_so(client, fake):
    # Row 1: `max_tokens` -> 400 unsupported_parameter "Use 'max_completion_tokens' instead."
    reasoner(fake)
    (column,) = compare(client, [{"model": REASONER, "max_tokens": 500}])["columns"]
    (sample,) = column["samples"]
    assert sample["error"] is None and sample["text"] == ANSWER
    assert adjusted(column) == {"max_tokens": ("renamed", "max_completion_tokens", "refused")}
    (change,) = column["adjustments"]
    assert change["value"] == 500
    assert change["message"].startswith(
        f"max_tokens=500 not accepted by {REASONER}: sent as max_completion_tokens=500"
    )
    first, second = (r.body for r in fake.requests)
    assert first["max_tokens"] == 500 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 500 and "max_tokens" not in second
    assert "setting_refused" not in column["flags"] or not column["flags"]["setting_refused"]


def test_the_built_in_presets_run_on_a_model_that_refuses_temperature(client, fake):
    # Row 2: temperature other than 1 -> 400 unsupported_value; no column fails for it.
    reasoner(fake)
    presets = [p.model_dump(exclude_none=True) | {"model": REASONER} for p in builtin_presets()]
    columns = compare(client, presets, samples=2)["columns"]
    assert all(s["error"] is None for c in columns for s in c["samples"])
    assert all(s["text"] == ANSWER for c in columns for s in c["samples"])
    by_name = {c["preset"]["name"]: c for c in columns}
    deterministic = by_name["Deterministic"]
    assert adjusted(deterministic) == {"temperature": ("dropped", None, "refused")}
    assert deterministic["adjustments"][0]["message"] == (
        f"temperature=0 not accepted by {REASONER}: sent without it — "
        "this column is not at temperature 0"
    )
    # Flagged as what it is, not quietly another column like its neighbours.
    assert deterministic["flags"]["setting_refused"]
    assert not deterministic["flags"]["expected_deterministic"]
    # temperature=1 is the one value the model takes: sent as it is, nothing to say.
    creative = by_name["Creative"]
    assert creative["adjustments"] == [] and not creative["flags"]["setting_refused"]
    assert all(
        "temperature" not in r.body or r.body["temperature"] == 1 for r in fake.requests[-2:]
    )


def test_top_p_and_penalties_are_dropped_one_at_a_time(client, fake):
    reasoner(fake)
    preset = {"model": REASONER, "top_p": 0.9, "frequency_penalty": 0.5, "presence_penalty": 1}
    (column,) = compare(client, [preset])["columns"]
    assert column["samples"][0]["text"] == ANSWER
    assert set(adjusted(column)) == {"top_p", "frequency_penalty", "presence_penalty"}
    assert len(fake.requests) == 4  # one refusal per parameter, then the answer
    assert column["flags"]["setting_refused"]


def test_a_budget_spent_on_reasoning_is_flagged_not_just_truncated(client, fake):
    # Row 3: finish "length", content empty, reasoning_tokens = all of it.
    reasoner(fake)
    preset = {"model": REASONER, "max_tokens": 3}
    (column,) = compare(client, [preset])["columns"]
    (sample,) = column["samples"]
    assert sample["text"] == "" and sample["finish_reason"] == "length"
    assert sample["reasoning"] == "Let me think "
    assert sample["usage"]["reasoning_tokens"] == 3 == sample["usage"]["completion_tokens"]
    assert column["flags"]["reasoning_budget"] and column["flags"]["truncated"]
    assert sample["ttft_ms"] is None and sample["first_token_ms"] is not None


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("reported", [True, False])
def test_reasoning_is_kept_apart_from_the_answer(client, fake, field, reported):
    # Row 4: DeepSeek / vLLM stream `reasoning_content`; Ollama / OpenRouter `reasoning`.
    fake.behave(reasoning=THOUGHT, reasoning_field=field, reasoning_tokens=reported, text=ANSWER)
    (column,) = compare(client, [{}])["columns"]
    (sample,) = column["samples"]
    assert sample["text"] == ANSWER
    assert sample["reasoning"] == " ".join([THOUGHT] * 2)  # an unset effort thinks twice
    # Reported by the endpoint, or counted: one chunk per word either way on the fake.
    assert sample["usage"]["reasoning_tokens"] == 10
    assert sample["usage"]["completion_tokens"] == 10 + len(ANSWER.split())
    # Time to the first answer token comes after time to the first token of any kind.
    assert sample["ttft_ms"] >= sample["first_token_ms"] > 0
    assert not column["flags"]["reasoning_budget"]


def test_a_refusal_is_shown_as_a_refusal(client, fake):
    # Row 5: `delta.refusal` text, `content` null.
    fake.behave(refusal="I can't help with that.")
    (column,) = compare(client, [{}], samples=2)["columns"]
    assert all(s["refusal"] == "I can't help with that." for s in column["samples"])
    assert all(s["text"] == "" and s["error"] is None for s in column["samples"])
    assert column["flags"]["refused"]


def test_a_server_that_rejects_stream_options_still_answers(client, fake):
    # Row 6: Azure-style 400 "Unrecognized request argument supplied: stream_options".
    fake.behave(no_stream_options=True, text=ANSWER)
    (column,) = compare(client, [{"temperature": 0.5}])["columns"]
    (sample,) = column["samples"]
    assert sample["error"] is None and sample["text"] == ANSWER
    assert adjusted(column) == {"stream_options": ("dropped", None, "refused")}
    assert "token counts are estimated" in column["adjustments"][0]["message"]
    assert sample["usage"]["completion_tokens"] == len(ANSWER.split())  # counted chunks
    assert "stream_options" not in fake.requests[-1].body
    assert not column["flags"]["setting_refused"]  # not a knob of the preset


def test_sent_is_byte_for_byte_the_body_the_endpoint_received(client, fake):
    reasoner(fake)
    preset = {"model": REASONER, "max_tokens": 64, "temperature": 0, "reasoning_effort": "high"}
    (column,) = compare(client, [{**preset, "top_k": 5, "stop": ["END"]}])["columns"]
    received = fake.requests[-1]
    assert column["sent"].encode() == received.raw
    assert json.loads(column["sent"]) == received.body
    assert received.body["reasoning_effort"] == "high" and received.body["top_k"] == 5
    assert CANARY_KEY not in column["sent"]
    assert received.headers["authorization"] == f"Bearer {CANARY_KEY}"  # a header, not the body


def test_effort_and_temperature_compared_side_by_side(client, fake):
    # A reasoning model at low vs high effort, and a classic one at temperature 0 vs 1.
    reasoner(fake)
    presets: list[dict[str, Any]] = [
        {"name": "low", "model": REASONER, "reasoning_effort": "low"},
        {"name": "high", "model": REASONER, "reasoning_effort": "high"},
        {"name": "T0", "model": "fake-model", "temperature": 0},
        {"name": "T1", "model": "fake-model", "temperature": 1},
    ]
    low, high, cold, warm = compare(client, presets, samples=2)["columns"]
    assert all(s["error"] is None for c in (low, high, cold, warm) for s in c["samples"])
    assert high["samples"][0]["usage"]["reasoning_tokens"] == 4 * THOUGHT.count(" ") + 4
    assert low["samples"][0]["usage"]["reasoning_tokens"] == THOUGHT.count(" ") + 1
    assert [c["model"] for c in (low, high, cold, warm)] == [REASONER] * 2 + ["fake-model"] * 2
    assert all(c["adjustments"] == [] for c in (low, high, cold, warm))
    assert json.loads(cold["sent"])["temperature"] == 0
    assert (
        cold["samples"][0]["reasoning"] == ""
        and cold["samples"][0]["usage"]["reasoning_tokens"] is None
    )


def test_the_effort_presets_run_on_a_reasoning_model(client, fake):
    reasoner(fake)
    presets = [p.model_dump(exclude_none=True) | {"model": REASONER} for p in effort_presets()]
    columns = compare(client, presets)["columns"]
    assert [c["preset"]["reasoning_effort"] for c in columns] == ["low", "medium", "high"]
    assert all(c["adjustments"] == [] and c["samples"][0]["error"] is None for c in columns)
    tokens = [c["samples"][0]["usage"]["reasoning_tokens"] for c in columns]
    assert tokens == sorted(tokens) and tokens[0] < tokens[-1]


def test_what_a_model_refused_is_remembered_by_every_replica(fake, tmp_path):
    reasoner(fake)
    preset = [{"model": REASONER, "max_tokens": 100, "temperature": 0.2}]
    with TestClient(create_app(settings_for(fake.base_url, tmp_path))) as client:
        first = compare(client, preset, samples=2)["columns"][0]
        assert {a["reason"] for a in first["adjustments"]} == {"refused"}
        fake.reset()
        reasoner(fake)
        again = compare(client, preset, samples=2)["columns"][0]
    assert len(fake.requests) == 2  # one request per sample: no refusal, no retry
    assert adjusted(again) == {
        "max_tokens": ("renamed", "max_completion_tokens", "remembered"),
        "temperature": ("dropped", None, "remembered"),
    }
    assert "(remembered from an earlier refusal)" in again["adjustments"][0]["message"]
    # A second app on the same database (another replica, or a restart) knows it too.
    fake.reset()
    reasoner(fake)
    with TestClient(create_app(settings_for(fake.base_url, tmp_path))) as other:
        elsewhere = compare(other, preset, samples=2)["columns"][0]
    assert len(fake.requests) == 2
    assert {a["reason"] for a in elsewhere["adjustments"]} == {"remembered"}
    assert all(r.body.get("max_completion_tokens") == 100 for r in fake.requests)
    assert elsewhere["sent"].encode() == fake.requests[0].raw


def test_capabilities_stated_in_the_endpoints_toml_apply_from_the_first_request(fake, tmp_path):
    reasoner(fake)
    toml = f"""
[endpoints.openai]
base_url = "{fake.base_url}"

[endpoints.openai.capabilities."o3*"]
renames = {{ max_tokens = "max_completion_tokens" }}
only = {{ temperature = 1 }}
"""
    app = create_app(settings_for(None, tmp_path, endpoints=toml))
    with TestClient(app) as client:
        (column,) = compare(client, [{"model": REASONER, "max_tokens": 50, "temperature": 0}])[
            "columns"
        ]
    assert len(fake.requests) == 1
    assert adjusted(column) == {
        "max_tokens": ("renamed", "max_completion_tokens", "configured"),
        "temperature": ("dropped", None, "configured"),
    }
    assert column["samples"][0]["text"] == ANSWER


def test_a_refusal_that_names_no_parameter_is_shown_as_it_is(client, fake):
    fake.behave(status=400, error_message="Something else is wrong.")
    (column,) = compare(client, [{"temperature": 0}])["columns"]
    assert "Something else is wrong." in column["samples"][0]["error"]
    assert column["adjustments"] == [] and len(fake.requests) == 1
    assert json.loads(column["sent"])["temperature"] == 0  # a failed request still tells


def test_a_saved_run_keeps_what_was_sent_and_changed(client, fake):
    reasoner(fake)
    result = compare(client, [{"model": REASONER, "temperature": 0}])
    saved = client.get(f"/api/runs/{result['id']}").json()
    (column,) = saved["columns"]
    assert column["sent"] == result["columns"][0]["sent"]
    assert column["adjustments"] == result["columns"][0]["adjustments"]
    assert column["samples"][0]["reasoning"] == result["columns"][0]["samples"][0]["reasoning"]
    assert column["flags"]["setting_refused"]


def test_the_live_page_streams_the_answer_of_a_reasoning_model(client, fake):
    fake.behave(reasoning=THOUGHT, text=ANSWER)
    page = client.post("/", data=form_fields([Preset(name="think")]), headers={"HX-Request": "1"})
    with client.stream("GET", f"/compare/{stream_token(page.text)}/events") as events:
        body = "".join(events.iter_text())
    assert "Paris" in body and "event: done" in body
    # Reasoning is its own event, which the live view passes by until it shows reasoning in
    # a fold of its own: never mixed into the answer's text. The finished column folds it.
    # Reasoning streams into its own fold, never into the answer's text.
    frames = "".join(f for f in body.split("\n\n") if f.startswith("event: text"))
    swaps = re.findall(r'hx-swap-oob="beforeend:#(\w+)-0-0">([^<]*)<', frames)
    answer = "".join(text for target, text in swaps if target == "text")
    thinking = "".join(text for target, text in swaps if target == "reasoning")
    assert "Paris" in answer and "Let me think" not in answer
    assert "Let me think" in thinking
    assert '<details class="reasoning">' in body
