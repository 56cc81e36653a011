"""Quick checks of the fake OpenAI-compatible server itself, over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest

from tests.fake_upstream import DEFAULT_TEXT, FakeUpstream, split_chunks


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


# Named apart from conftest's `fake`/`client` fixtures: these tests need only the fake.
@pytest.fixture
def upstream(server: FakeUpstream) -> FakeUpstream:
    server.reset()
    return server


@pytest.fixture
def http(upstream: FakeUpstream) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=upstream.base_url, timeout=5) as client:
        yield client


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": "Say hi"}], **extra}


def stream_lines(http: httpx2.Client, **extra: Any) -> list[str]:
    with http.stream("POST", "/chat/completions", json=chat(stream=True, **extra)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line for line in response.iter_lines() if line]


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in lines if line != "data: [DONE]"]


def wait_until(condition: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_lists_models(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.models = ["m1"]
    assert http.get("/models").json() == {
        "object": "list",
        "data": [{"id": "m1", "object": "model", "owned_by": "fake"}],
    }


def test_streams_word_chunks_then_finish_and_done(
    upstream: FakeUpstream, http: httpx2.Client
) -> None:
    lines = stream_lines(http, seed=7)
    assert lines[-1] == "data: [DONE]"
    chunks = events(lines)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["model"] == "fake-model" and c["system_fingerprint"] == "fp_fake" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[:-1]]
    assert texts == split_chunks(DEFAULT_TEXT) and "".join(texts) == DEFAULT_TEXT
    assert len(texts) == 9
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert not any("usage" in c for c in chunks)
    [received] = upstream.requests
    assert received.body["seed"] == 7 and received.headers["content-type"] == "application/json"


def test_usage_and_length_cut(upstream: FakeUpstream, http: httpx2.Client) -> None:
    chunks = events(stream_lines(http, max_tokens=3, stream_options={"include_usage": True}))
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-2]) == (
        "The quick brown "
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_non_streaming_answer(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(text="Hello there.", fingerprint=None, finish_reason="content_filter")
    answer = http.post("/chat/completions", json=chat(model="x")).json()
    assert answer["object"] == "chat.completion" and answer["model"] == "x"
    assert "system_fingerprint" not in answer
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Hello there."}
    assert answer["choices"][0]["finish_reason"] == "content_filter"
    assert answer["usage"]["completion_tokens"] == 2


def test_concurrent_requests_overlap(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(latency=0.2)
    started = time.perf_counter()
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: stream_lines(http), range(5)))
    assert time.perf_counter() - started < 0.9  # not serialised: 5 x 0.2 s would be 1 s
    assert all(lines[-1] == "data: [DONE]" for lines in results)
    assert upstream.max_in_flight == 5
    wait_until(lambda: upstream.in_flight == 0)


def test_error_status_then_recovery(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(status=429, error_message="slow down", fail_times=1)
    first = http.post("/chat/completions", json=chat(stream=True))
    assert first.status_code == 429
    assert first.json() == {
        "error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}
    }
    assert stream_lines(http)[-1] == "data: [DONE]"
    upstream.behave(status=401)
    assert http.post("/chat/completions", json=chat()).json()["error"]["code"] == (
        "invalid_api_key"
    )


def test_break_after_drops_the_stream(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(break_after=2)
    lines: list[str] = []
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        http.stream("POST", "/chat/completions", json=chat(stream=True)) as response,
    ):
        lines.extend(line for line in response.iter_lines() if line)
    assert len(lines) == 2 and "data: [DONE]" not in lines
    assert all(c["choices"][0]["finish_reason"] is None for c in events(lines))
    wait_until(lambda: upstream.in_flight == 0)


def test_client_leaving_ends_the_request(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(chunk_delay=5)
    with http.stream("POST", "/chat/completions", json=chat(stream=True)) as response:
        assert next(response.iter_lines()).startswith("data: {")
    wait_until(lambda: upstream.in_flight == 0)


def test_malformed_after(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(malformed_after=1)
    lines = stream_lines(http)
    assert lines[1] == "data: {not json" and lines[-1] == "data: [DONE]"


def test_cycles_and_per_model_overrides(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(fingerprint=["fp_a", "fp_b"], nondeterministic=True)
    upstream.behave_for("fake-model-large", texts=["one", "two"])

    def answer(model: str) -> dict[str, Any]:
        return http.post("/chat/completions", json=chat(model=model)).json()

    small = [answer("fake-model") for _ in range(3)]
    assert [a["system_fingerprint"] for a in small] == ["fp_a", "fp_b", "fp_a"]
    assert len({a["choices"][0]["message"]["content"] for a in small}) == 3
    large = [answer("fake-model-large")["choices"][0]["message"]["content"] for _ in range(3)]
    assert large == ["one", "two", "one"]


def test_hang_ends_on_client_timeout_and_on_stop() -> None:
    with FakeUpstream() as fake:
        fake.behave(hang=True)
        with (
            httpx2.Client(base_url=fake.base_url, timeout=0.3) as http,
            pytest.raises(httpx2.ReadTimeout),
        ):
            http.post("/chat/completions", json=chat())
        wait_until(lambda: fake.in_flight == 0)
        with (
            httpx2.Client(base_url=fake.base_url, timeout=30) as http,
            ThreadPoolExecutor(1) as pool,
        ):
            pending = pool.submit(http.post, "/chat/completions", json=chat())
            wait_until(lambda: fake.in_flight == 1)
            started = time.perf_counter()
            fake.stop()
            assert time.perf_counter() - started < 3
            assert pending.result(timeout=5).status_code == 503


@pytest.mark.parametrize(
    ("extra", "param", "code", "words"),
    [
        ({"max_tokens": 5}, "max_tokens", "unsupported_parameter", "Use 'max_completion_tokens'"),
        ({"temperature": 0}, "temperature", "unsupported_value", "Only the default (1) value"),
        ({"top_p": 0.5}, "top_p", "unsupported_parameter", "'top_p' is not supported"),
        ({"presence_penalty": 1}, "presence_penalty", "unsupported_parameter", "not supported"),
        ({"logprobs": True}, "logprobs", "unsupported_parameter", "not supported"),
    ],
)
def test_a_reasoning_model_refuses_as_openai_does(
    upstream: FakeUpstream, http: httpx2.Client, extra, param, code, words
) -> None:
    upstream.behave(reasoning_model=True)
    response = http.post("/chat/completions", json=chat(stream=True, **extra))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert words in error["message"]


def test_a_reasoning_model_takes_its_own_parameters(
    upstream: FakeUpstream, http: httpx2.Client
) -> None:
    upstream.behave(reasoning_model=True, reasoning="a b", text="c d")
    opts = {"include_usage": True}
    lines = stream_lines(http, temperature=1, max_completion_tokens=3, stream_options=opts)
    chunks = events(lines)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    # "a b" twice (an unset effort), cut by the budget of 3: reasoning only, then "length".
    assert [d.get("reasoning_content") for d in deltas[:-1]] == ["a ", "b ", "a "]
    assert all(d.get("content") is None for d in deltas)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == 3
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_reasoning_follows_the_effort_and_the_field_name(
    upstream: FakeUpstream, http: httpx2.Client
) -> None:
    upstream.behave(reasoning="x", reasoning_field="reasoning", text="ok")
    for effort, words in [("none", 0), ("low", 1), ("medium", 2), ("high", 4)]:
        deltas = [
            c["choices"][0]["delta"] for c in events(stream_lines(http, reasoning_effort=effort))
        ]
        assert sum("reasoning" in d for d in deltas) == words, effort
        assert "".join(d.get("content") or "" for d in deltas) == "ok"


def test_a_refusal_streams_as_refusal_with_content_null(
    upstream: FakeUpstream, http: httpx2.Client
) -> None:
    upstream.behave(refusal="No.")
    deltas = [c["choices"][0]["delta"] for c in events(stream_lines(http))]
    assert deltas[0] == {"role": "assistant", "refusal": "No.", "content": None}
    assert http.post("/chat/completions", json=chat()).json()["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": "No.",
    }


def test_stream_options_rejected_as_azure_does(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(no_stream_options=True)
    opts = {"include_usage": True}
    response = http.post("/chat/completions", json=chat(stream=True, stream_options=opts))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Unrecognized request argument supplied: stream_options"
    )
    assert stream_lines(http)[-1] == "data: [DONE]"
    first = upstream.requests[0]
    assert json.loads(first.raw) == first.body == chat(stream=True, stream_options=opts)


def test_timings_as_llama_cpp_sends_them(upstream: FakeUpstream, http: httpx2.Client) -> None:
    upstream.behave(timings=True, chunk_delay=0.01)
    finish = events(stream_lines(http))[-1]
    assert finish["choices"][0]["finish_reason"] == "stop"
    timings = finish["timings"]
    assert timings["predicted_n"] == 9 and timings["prompt_n"] == 2
    assert timings["predicted_ms"] > 0 and timings["prompt_ms"] >= 0
    per_second = timings["predicted_n"] / timings["predicted_ms"] * 1000
    assert timings["predicted_per_second"] == pytest.approx(per_second)
    upstream.behave()
    assert not any("timings" in c for c in events(stream_lines(http)))


def test_one_slot_answers_one_request_at_a_time(upstream: FakeUpstream) -> None:
    upstream.limit_slots(1)
    upstream.behave_for("slow", chunk_delay=30)  # answers, then holds its slot
    body = chat(model="slow", stream=True)
    with (
        httpx2.Client(base_url=upstream.base_url, timeout=5) as holder,
        holder.stream("POST", "/chat/completions", json=body),
        httpx2.Client(base_url=upstream.base_url, timeout=0.5) as waiter,
    ):
        # The slot is taken: the next request waits in the server's queue, unanswered.
        with pytest.raises(httpx2.ReadTimeout):
            waiter.post("/chat/completions", json=chat(stream=True))
        assert upstream.max_in_flight == 2 and len(upstream.requests) == 2
    wait_until(lambda: upstream.in_flight == 0)
    with httpx2.Client(base_url=upstream.base_url, timeout=5) as http:
        assert stream_lines(http)[-1] == "data: [DONE]"  # the slot is free again


def test_props_reports_slots_only_when_asked(upstream: FakeUpstream, http: httpx2.Client) -> None:
    root = upstream.base_url.removesuffix("/v1")
    assert http.get(f"{root}/props").status_code == 404
    upstream.limit_slots(3, report=True)
    assert http.get(f"{root}/props").json()["total_slots"] == 3
    upstream.reset()
    assert http.get(f"{root}/props").status_code == 404
