"""Capabilities: reading refusals in each server's words, adjusting a body with a message,
the TOML field, the shared table, and the page's new knobs and presets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.engine.capabilities import (
    Capabilities,
    Memory,
    Refusal,
    adjust,
    lesson,
    refusal,
    stated,
)
from app.engine.endpoints import EndpointConfigError, Upstreams, parse
from app.engine.events import Delta, SampleDone, Thinking
from app.engine.fanout import stream_comparison
from app.engine.presets import CompareRequest, Preset
from app.engine.upstream import Endpoint, Upstream
from app.settings import Settings
from app.storage.capability_table import CapabilityTable
from app.storage.store import RunStore, default_url
from tests import postgres
from tests.fake_upstream import FakeUpstream, error_body

BODY = {"model": "o3", "messages": [], "stream": True, "stream_options": {"include_usage": True}}


def body(**params: Any) -> dict[str, Any]:
    return {**BODY, **params}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            error_body(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "max_tokens",
                "unsupported_parameter",
            ),
            Refusal("max_tokens", to="max_completion_tokens"),
        ),
        (
            error_body(
                400,
                "Unsupported value: 'temperature' does not support 0 with this model. "
                "Only the default (1) value is supported.",
                "temperature",
                "unsupported_value",
            ),
            Refusal("temperature", only=1),
        ),
        # The message alone is enough (servers that copy OpenAI's words but not its fields).
        (
            {
                "error": {
                    "message": "Unsupported parameter: 'top_p' is not supported with this model."
                }
            },
            Refusal("top_p"),
        ),
        (
            error_body(400, "Unrecognized request argument supplied: stream_options"),
            Refusal("stream_options"),
        ),
        # Only this value is refused, and no accepted one named: dropped, not remembered.
        (
            error_body(
                400,
                "Unsupported value: 'reasoning_effort' does not support 'none' with this model. "
                "Supported values are: 'low', 'medium', and 'high'.",
                "reasoning_effort",
                "unsupported_value",
            ),
            Refusal("reasoning_effort", lasting=False),
        ),
        # The SDK hands over the inner object; a nested name refuses its top-level parameter.
        (
            {
                "message": "x",
                "param": "stream_options.include_usage",
                "code": "unsupported_parameter",
            },
            Refusal("stream_options"),
        ),
    ],
)
def test_refusals_are_read_in_each_servers_words(error, expected):
    sent = body(max_tokens=5, temperature=0, top_p=0.5, reasoning_effort="none")
    assert refusal(error, sent) == expected


@pytest.mark.parametrize(
    "error",
    [
        error_body(400, "Something else is wrong."),
        error_body(400, "Unsupported parameter: 'seed' is not supported with this model."),
        error_body(400, "Unsupported parameter: 'messages' is not supported with this model."),
        {"error": "a plain string"},
        None,
    ],
)
def test_a_refusal_of_nothing_that_was_sent_changes_nothing(error):
    assert refusal(error, body(temperature=0)) is None


def test_adjust_renames_drops_and_keeps_the_one_accepted_value():
    sent = body(max_tokens=10, temperature=0, top_p=0.9, logprobs=True)
    known = Capabilities(
        refuses=["top_p", "logprobs"],
        renames={"max_tokens": "max_completion_tokens"},
        only={"temperature": 1},
    )
    changes = adjust(sent, known, "o3", "remembered")
    assert sent == body(max_completion_tokens=10)
    assert [(c.param, c.action) for c in changes] == [
        ("logprobs", "dropped"),
        ("max_tokens", "renamed"),
        ("temperature", "dropped"),
        ("top_p", "dropped"),
    ]
    messages = {c.param: c.message for c in changes}
    assert messages["logprobs"] == (
        "logprobs=true not accepted by o3: sent without it — the endpoint's default applies "
        "(remembered from an earlier refusal)"
    )
    assert messages["top_p"].startswith("top_p=0.9 not accepted by o3: sent without it — this")
    one = body(temperature=1)
    assert adjust(one, known, "o3", "configured") == [] and one["temperature"] == 1


def test_lessons_merge():
    learnt = [lesson(Refusal("max_tokens", to="max_completion_tokens")), lesson(Refusal("top_p"))]
    merged = learnt[0].merged(learnt[1]).merged(lesson(Refusal("temperature", only=1)))
    assert merged == Capabilities(
        refuses=["top_p"], renames={"max_tokens": "max_completion_tokens"}, only={"temperature": 1}
    )


TOML = """
[endpoints.openai]
base_url = "https://api.openai.com/v1"

[endpoints.openai.capabilities."o*"]
refuses = ["top_p"]
renames = { max_tokens = "max_completion_tokens" }

[endpoints.openai.capabilities."o3"]
only = { temperature = 1 }
"""


def test_the_toml_states_capabilities_per_model_or_glob():
    (endpoint,) = parse(TOML, "test", {})
    assert stated(endpoint.capabilities, "o3") == Capabilities(
        refuses=["top_p"], renames={"max_tokens": "max_completion_tokens"}, only={"temperature": 1}
    )
    assert stated(endpoint.capabilities, "o4-mini").only == {}
    assert not stated(endpoint.capabilities, "gpt-4o")


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('capabilities = "o3"', "capabilities must be tables"),
        ('[endpoints.a.capabilities."o3"]\nrefuses = "top_p"', "capabilities for 'o3': refuses"),
        ('[endpoints.a.capabilities."o3"]\ndrops = ["top_p"]', "capabilities for 'o3': drops"),
    ],
)
def test_capability_mistakes_say_what_to_fix(table, words):
    text = f'[endpoints.a]\nbase_url = "http://x"\n{table}'
    if table.startswith("["):
        text = f'[endpoints.a]\nbase_url = "http://x"\n\n{table}'
    with pytest.raises(EndpointConfigError, match=words):
        parse(text, "endpoints.toml", {})


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh database of each kind Knobs stores in."""
    if request.param == "sqlite":
        yield default_url(tmp_path)
        return
    with postgres.fresh_schema(postgres.server_url()) as url:
        yield url


def test_the_table_merges_what_replicas_learn(database):
    store = RunStore(database)
    try:
        one, two = CapabilityTable(store.engine), CapabilityTable(store.engine)
        assert one.load("http://x/v1", "o3") is None
        one.learn("http://x/v1", "o3", Capabilities(refuses=["top_p"]))
        two.learn("http://x/v1", "o3", Capabilities(renames={"max_tokens": "m"}))
        assert one.load("http://x/v1", "o3") == Capabilities(
            refuses=["top_p"], renames={"max_tokens": "m"}
        )
        assert two.load("http://y/v1", "o3") is None
    finally:
        store.close()


def test_replicas_learning_at_once_lose_no_lesson(database):
    # Each replica its own pool; all meet a new model at the same moment.
    stores = [RunStore(database) for _ in range(4)]
    start = threading.Barrier(len(stores))

    def learn(index: int) -> None:
        start.wait()
        table = CapabilityTable(stores[index].engine)
        table.learn("http://x/v1", "o3", Capabilities(refuses=[f"p{index}"]))

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            list(pool.map(learn, range(len(stores))))
        known = CapabilityTable(stores[0].engine).load("http://x/v1", "o3")
        assert known == Capabilities(refuses=[f"p{i}" for i in range(len(stores))])
    finally:
        for store in stores:
            store.close()


class BrokenStore:
    def load(self, base_url: str, model: str) -> Capabilities | None:
        raise OSError("the database is down")

    def learn(self, base_url: str, model: str, learnt: Capabilities) -> None:
        raise OSError("the database is down")


def test_memory_carries_on_without_its_store(caplog):
    async def use() -> Capabilities:
        memory = Memory("http://x/v1", BrokenStore())
        assert await memory.recall("o3") == Capabilities()
        await memory.learn("o3", Capabilities(refuses=["top_p"]))
        return await memory.recall("o3")

    assert asyncio.run(use()) == Capabilities(refuses=["top_p"])
    assert "not saved" in caplog.text


def test_reasoning_streams_as_its_own_event(fake: FakeUpstream, tmp_path):
    fake.behave(reasoning="Hmm, yes.", text="Yes.")
    request = CompareRequest(prompt="hi", samples=1, presets=[Preset(reasoning_effort="low")])

    async def run() -> list[Any]:
        upstream = Upstream(Endpoint("fake", fake.base_url), Settings(data_dir=tmp_path))
        try:
            return [e async for e in stream_comparison(request, Upstreams.of(upstream))]
        finally:
            await upstream.aclose()

    events = asyncio.run(run())
    thinking = [e.text for e in events if isinstance(e, Thinking)]
    answer = [e.text for e in events if isinstance(e, Delta)]
    assert "".join(thinking) == "Hmm, yes." and "".join(answer) == "Yes."
    # All the reasoning streams before the answer does.
    kinds = [type(e) for e in events if isinstance(e, Thinking | Delta)]
    assert kinds == sorted(kinds, key=lambda k: k is Delta)
    (done,) = [e for e in events if isinstance(e, SampleDone)]
    assert done.result.reasoning == "Hmm, yes." and done.sent is not None


def test_the_form_offers_the_choice_knobs_and_the_effort_presets(client):
    page = client.post("/", data={"prompt": "hi", "action": "effort", "p-0-name": "A"})
    assert page.status_code == 200
    for effort in ("low", "medium", "high"):
        assert f'value="Effort: {effort}"' in page.text
    assert '<select name="p-1-reasoning_effort">' in page.text
    assert "<option selected>low</option>" in page.text
    assert '<option value="">unset</option>' in page.text
    assert 'name="action" value="effort"' in page.text


def test_a_stopped_column_still_says_what_it_sent_and_changed(fake: FakeUpstream, tmp_path):
    fake.behave(no_stream_options=True, reasoning="hmm " * 50, text="word " * 50, chunk_delay=0.02)
    request = CompareRequest(prompt="hi", samples=2, presets=[Preset(temperature=0.3)])

    async def run() -> list[Any]:
        upstream = Upstream(Endpoint("fake", fake.base_url), Settings(data_dir=tmp_path))
        stop = asyncio.Event()
        seen = []
        answering: set[int] = set()
        try:
            async for event in stream_comparison(request, Upstreams.of(upstream), stop):
                seen.append(event)
                if isinstance(event, Delta) and event.tokens >= 2:
                    answering.add(event.sample)
                    if len(answering) == 2:  # both are past their reasoning
                        stop.set()
        finally:
            await upstream.aclose()
        return seen

    (column,) = asyncio.run(run())[-1].result.columns
    assert all(s.incomplete for s in column.samples)
    assert [a.param for a in column.adjustments] == ["stream_options"]
    assert column.sent is not None and "stream_options" not in column.sent
    assert all(s.reasoning.startswith("hmm hmm") for s in column.samples)
