"""Honest timings against an endpoint that answers one request at a time: Knobs sends it one
at a time, in round-robin order across columns, and measures the wait apart from the answer."""

from __future__ import annotations

import asyncio
import json
import time

import httpx2
import pytest

from app.engine.dialects import ServerTimings, StreamReader
from app.engine.endpoints import EndpointConfigError, Upstreams, parse
from app.engine.events import ComparisonDone, Delta, SampleDone, Sent
from app.engine.fanout import NEVER_SENT, run_comparison, stream_comparison
from app.engine.presets import CompareRequest, Preset
from app.engine.slots import EndpointSlots, Slots, props_url
from app.engine.upstream import Endpoint, Upstream
from app.ops.embedded import free_port
from app.settings import Settings
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def four_by_two() -> CompareRequest:
    """Four columns told apart by temperature (as the requests' bodies show), two samples."""
    presets = [Preset(name=f"c{c}", temperature=c / 10) for c in range(4)]
    return CompareRequest(prompt="hi", samples=2, presets=presets)


def arrival_columns(fake: FakeUpstream) -> list[int]:
    return [round(r.body["temperature"] * 10) for r in fake.requests]


async def compare(endpoint: Endpoint, tmp_path, request: CompareRequest | None = None):
    upstream = Upstream(endpoint, Settings(data_dir=tmp_path))
    began = time.perf_counter()
    try:
        comparison = await run_comparison(request or four_by_two(), Upstreams.of(upstream))
    finally:
        await upstream.aclose()
    return comparison, (time.perf_counter() - began) * 1000


async def test_one_slot_reported_by_props_one_request_at_a_time_round_robin(
    fake: FakeUpstream, tmp_path
):
    fake.limit_slots(1, report=True)  # llama.cpp's /props: total_slots = 1
    fake.behave(latency=0.02)
    comparison, wall_ms = await compare(Endpoint("fake", fake.base_url), tmp_path)
    # Knobs learnt the slot from /props and sent one at a time: no hidden queue at the server.
    assert fake.max_in_flight == 1
    # Every column's first sample went before any column's second.
    assert arrival_columns(fake) == [0, 1, 2, 3, 0, 1, 2, 3]
    samples = [s for column in comparison.columns for s in column.samples]
    assert all(s.error is None for s in samples)
    # The first request went at once; every other one waited its turn, and said so.
    assert comparison.columns[0].samples[0].queued_ms is None
    assert all(s.queued_ms and s.queued_ms > 0 for s in samples[1:])
    # Each sample's TTFT and total count from its own sending: the eight ran one after
    # another, so their totals fit in the comparison's wall time (with the queue in them
    # they would add up to several times it).
    assert all(s.ttft_ms is not None and s.ttft_ms <= s.latency_ms for s in samples)
    assert sum(s.latency_ms or 0 for s in samples) <= wall_ms + 1


async def test_parallel_in_the_endpoints_toml_caps_requests_at_once(fake: FakeUpstream, tmp_path):
    fake.behave(latency=0.1)
    [endpoint] = parse(f'[endpoints.local]\nbase_url = "{fake.base_url}"\nparallel = 2\n', "t")
    assert endpoint.parallel == 2
    comparison, _ = await compare(endpoint, tmp_path)
    assert fake.max_in_flight == 2 and len(fake.requests) == 8
    assert arrival_columns(fake) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert sum(s.queued_ms is not None for c in comparison.columns for s in c.samples) == 6


async def test_an_endpoint_that_says_nothing_gets_everything_at_once(fake: FakeUpstream, tmp_path):
    fake.behave(latency=0.2)  # /props answers 404, as most servers do
    comparison, _ = await compare(Endpoint("fake", fake.base_url), tmp_path)
    assert fake.max_in_flight == 8
    assert all(s.queued_ms is None for c in comparison.columns for s in c.samples)


async def test_stop_cancels_queued_requests_without_sending_them(fake: FakeUpstream, tmp_path):
    fake.behave(hang=True)
    upstream = Upstream(Endpoint("fake", fake.base_url, parallel=1), Settings(data_dir=tmp_path))
    stop = asyncio.Event()
    events = stream_comparison(four_by_two(), Upstreams.of(upstream), stop)

    async def stop_once_one_is_out() -> None:
        for _ in range(500):  # the fake records requests in a thread of its own
            if fake.requests:
                break
            await asyncio.sleep(0.02)
        stop.set()

    stopper = asyncio.create_task(stop_once_one_is_out())
    end = None
    try:
        async for event in events:
            if isinstance(event, ComparisonDone):
                end = event
    finally:
        await events.aclose()
        await upstream.aclose()
        stopper.cancel()
    assert end is not None and end.stopped
    samples = [s for c in end.result.columns for s in c.samples]
    # One request was out; the seven waiting for their turn never opened a connection.
    assert len(fake.requests) == 1
    never_sent = [s for s in samples if s.error == NEVER_SENT]
    assert len(never_sent) == 7
    # Nothing was timed for them: no "0 ms" total for a request that never went.
    assert all(s.latency_ms is None and s.ttft_ms is None for s in never_sent)


async def test_llama_cpp_timings_are_used_where_sent(fake: FakeUpstream, tmp_path):
    fake.behave(timings=True, text="one two three four", chunk_delay=0.01)
    request = CompareRequest(prompt="hi", samples=1, presets=[Preset()])
    comparison, _ = await compare(Endpoint("fake", fake.base_url), tmp_path, request)
    [sample] = comparison.columns[0].samples
    assert sample.generation_ms is not None and sample.generation_ms > 0
    assert sample.prompt_ms is not None
    # tok/s is the server's own (4 tokens over its generation time), not Knobs' count.
    assert sample.tokens_per_second == pytest.approx(4 / sample.generation_ms * 1000, rel=0.01)
    fake.behave(text="one two three four")
    comparison, _ = await compare(Endpoint("fake", fake.base_url), tmp_path, request)
    [sample] = comparison.columns[0].samples
    assert sample.generation_ms is None and sample.prompt_ms is None


async def test_slots_serve_in_order_and_a_cancelled_waiter_leaves_no_trace():
    slots = Slots(1)
    assert await slots.take() is None  # free: no wait
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.take()
        order.append(name)

    first, gone, last = (asyncio.create_task(wait(n)) for n in ("first", "gone", "last"))
    await asyncio.sleep(0)
    gone.cancel()
    slots.give_back()
    await first
    slots.give_back()
    await last
    assert order == ["first", "last"] and slots.busy == 1
    slots.resize(3)
    assert await slots.take() is None and slots.busy == 2


def test_props_sits_beside_the_openai_base_url():
    assert props_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/props"
    assert props_url("http://host/llama/v1/") == "http://host/llama/props"
    assert props_url("http://host:8080") == "http://host:8080/props"


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True, 257])
def test_parallel_must_be_a_sensible_whole_number(value):
    text = f'[endpoints.x]\nbase_url = "http://h/v1"\nparallel = {value!r}\n'.replace("'", '"')
    text = text.replace("True", "true")
    with pytest.raises(EndpointConfigError, match="parallel must be a whole number from 1"):
        parse(text, "t")


async def test_slots_are_asked_again_while_the_server_is_not_up(fake: FakeUpstream):
    fake.limit_slots(2, report=True)
    slots = EndpointSlots(None, default=40)
    async with httpx2.AsyncClient() as http:
        await slots.learn(http, f"http://127.0.0.1:{free_port()}/v1", None)  # nothing there
        assert slots.size == 40
        await slots.learn(http, fake.base_url, None)
        assert slots.size == 2
        fake.limit_slots(1, report=True)
        await slots.learn(http, fake.base_url, None)  # asked once it answered: kept
    assert slots.size == 2


def finish_with(timings: object) -> ServerTimings | None:
    reader = StreamReader()
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "timings": timings}
    reader.feed("data: " + json.dumps(end))
    return reader.finish().timings


def test_llama_cpp_timings_are_read_and_nonsense_is_not():
    sent = {"prompt_n": 9, "prompt_ms": 41.25, "predicted_n": 30, "predicted_ms": 402.0}
    assert finish_with(sent | {"predicted_per_second": 74.63}) == ServerTimings(41.2, 402.0, 74.6)
    assert (
        finish_with({"prompt_ms": "fast", "predicted_ms": -1, "predicted_per_second": True}) is None
    )
    assert finish_with([1, 2]) is None
    # Python's json reads NaN and Infinity, as some servers write them.
    reader = StreamReader()
    reader.feed('data: {"choices": [{"finish_reason": "stop"}], "timings": {"predicted_ms": NaN}}')
    assert reader.finish().timings is None


async def test_the_page_hears_when_each_waiting_request_goes_out(fake: FakeUpstream, tmp_path):
    # With one slot, a sample's Sent comes when its turn does, before any of its text, and
    # in the same round-robin order: the page can show which samples are still queued.
    fake.limit_slots(1, report=True)
    fake.behave(text="a b", latency=0.02)
    upstream = Upstream(Endpoint("fake", fake.base_url), Settings(data_dir=tmp_path))
    try:
        events = [e async for e in stream_comparison(four_by_two(), Upstreams.of(upstream))]
    finally:
        await upstream.aclose()
    sent = [(e.column, e.sample) for e in events if isinstance(e, Sent)]
    assert sent == [(c, s) for s in range(2) for c in range(4)]
    for key in sent:
        mine = [
            type(e)
            for e in events
            if (getattr(e, "column", None), getattr(e, "sample", None)) == key
        ]
        assert mine.index(Sent) < mine.index(Delta) < mine.index(SampleDone)
