"""The fan-out engine directly: event order, Stop, and closing when the consumer leaves."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.engine.endpoints import Upstreams
from app.engine.events import ColumnDone, ComparisonDone, Delta, SampleDone, Sent
from app.engine.fanout import run_comparison, stream_comparison
from app.engine.presets import CompareRequest, Preset
from app.engine.upstream import Endpoint, Upstream
from app.settings import Settings
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def upstream(fake: FakeUpstream, tmp_path):
    client = Upstream(Endpoint("fake", fake.base_url), Settings(data_dir=tmp_path))
    yield client
    await client.aclose()


async def wait_until_idle(fake: FakeUpstream, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    # The fake runs in another thread; polling is the simple way to watch it.
    while fake.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


def request(presets: int = 2, samples: int = 2) -> CompareRequest:
    return CompareRequest(prompt="hi", samples=samples, presets=[Preset()] * presets)


async def test_events_arrive_in_order_per_sample(fake: FakeUpstream, upstream):
    fake.behave(text="a b c")
    events = [e async for e in stream_comparison(request(), Upstreams.of(upstream))]
    assert isinstance(events[-1], ComparisonDone) and not events[-1].stopped
    for c in range(2):
        for s in range(2):
            mine = [
                e
                for e in events
                if getattr(e, "column", None) == c and getattr(e, "sample", s) == s
            ]
            # Sent, the text as it was read (one Delta per read, however many tokens), the end.
            kinds = [type(e) for e in mine if not isinstance(e, ColumnDone)]
            assert kinds[0] is Sent and kinds[-1] is SampleDone and set(kinds[1:-1]) == {Delta}
            deltas = [e for e in mine if isinstance(e, Delta)]
            assert "".join(e.text for e in deltas) == "a b c" and deltas[-1].tokens == 3
    assert sum(isinstance(e, ColumnDone) for e in events) == 2


async def test_stop_closes_requests_and_keeps_partial_text(fake: FakeUpstream, upstream):
    fake.behave(text=" ".join(["word"] * 200), chunk_delay=0.05)
    stop = asyncio.Event()
    events = []
    async for event in stream_comparison(request(), Upstreams.of(upstream), stop):
        events.append(event)
        if isinstance(event, Delta) and event.tokens >= 3:
            stop.set()
    done = events[-1]
    assert isinstance(done, ComparisonDone) and done.stopped
    samples = [s for column in done.result.columns for s in column.samples]
    assert len(samples) == 4
    assert all(s.incomplete and s.error for s in samples)
    assert any(s.text.startswith("word word") for s in samples)
    await wait_until_idle(fake)
    assert fake.in_flight == 0


async def test_a_stopped_sample_keeps_the_stats_of_what_had_arrived(fake: FakeUpstream, upstream):
    fake.behave(text=" ".join(["word"] * 200), chunk_delay=0.05)
    stop = asyncio.Event()
    events = []
    async for event in stream_comparison(request(1, 1), Upstreams.of(upstream), stop):
        events.append(event)
        if isinstance(event, Delta) and event.tokens >= 4:
            stop.set()
    done = events[-1]
    assert isinstance(done, ComparisonDone)
    (sample,) = done.result.columns[0].samples
    arrived = sample.text.count("word")
    assert sample.incomplete and arrived >= 4
    assert sample.usage.completion_tokens == arrived  # one chunk, one token
    assert sample.ttft_ms is not None and sample.latency_ms is not None
    assert sample.latency_ms >= sample.ttft_ms


async def test_leaving_early_closes_every_upstream_request(fake: FakeUpstream, upstream):
    fake.behave(text=" ".join(["word"] * 200), chunk_delay=0.05)
    before = asyncio.all_tasks()
    stop = asyncio.Event()
    stream = stream_comparison(request(presets=3), Upstreams.of(upstream), stop)
    async for event in stream:
        if isinstance(event, Delta):
            break
    assert fake.in_flight > 0
    assert len(asyncio.all_tasks() - before) >= 7  # one per request, plus the Stop watcher
    await stream.aclose()
    # No task outlives the comparison: requests, the Stop watcher, nothing left running.
    assert asyncio.all_tasks() - before == set()
    await wait_until_idle(fake)
    assert fake.in_flight == 0


async def test_a_sample_that_crashes_ends_as_a_failed_sample(fake: FakeUpstream, upstream):
    # Usage counts that are not numbers make Knobs' own bookkeeping raise (TypeError), not
    # the upstream client: the comparison must still end, with that sample failed.
    fake.behave(usage={"prompt_tokens": 1, "completion_tokens": "lots"})
    events = stream_comparison(request(presets=1, samples=2), Upstreams.of(upstream))
    async with asyncio.timeout(30):
        done = [e async for e in events if isinstance(e, ComparisonDone)]
    (column,) = done[0].result.columns
    assert [s.text for s in column.samples] == ["The quick brown fox jumps over the lazy dog."] * 2
    assert all(s.error and "TypeError" in s.error for s in column.samples)
    assert all(s.incomplete for s in column.samples)


async def test_run_comparison_reports_no_text_on_the_way(fake: FakeUpstream, upstream, monkeypatch):
    # The API waits for the end: text events would only cost CPU per token.
    fake.behave(text="a b c", chunk_delay=0.01)
    reported: list[object] = []
    original = asyncio.Queue.put_nowait

    def spy(queue: asyncio.Queue[object], item: object) -> None:
        reported.append(item)
        original(queue, item)

    monkeypatch.setattr(asyncio.Queue, "put_nowait", spy)
    comparison = await run_comparison(request(), Upstreams.of(upstream))
    assert [s.text for c in comparison.columns for s in c.samples] == ["a b c"] * 4
    assert not any(isinstance(e, Delta | Sent) for e in reported)
    assert sum(isinstance(e, SampleDone) for e in reported) == 4


async def test_the_live_rate_waits_until_the_answer_has_streamed_a_while(
    fake: FakeUpstream, upstream
):
    # Tokens read together at the start would make thousands a second: no rate then.
    fake.behave(text="a b c d e f g", chunk_delay=0.1)
    events = [e async for e in stream_comparison(request(1, 1), Upstreams.of(upstream))]
    deltas = [e for e in events if isinstance(e, Delta)]
    assert deltas[0].tokens_per_second is None
    rated = [d.tokens_per_second for d in deltas if d.tokens_per_second is not None]
    assert rated and all(1 <= r <= 20 for r in rated)  # about 10 a second
