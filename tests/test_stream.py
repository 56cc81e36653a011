"""Events to SSE frames: text coalesced and escaped, ahead of its column's results and the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

import pytest

from app.engine.events import Sent
from app.engine.fanout import ColumnDone, Delta, Event
from app.engine.presets import Preset
from app.engine.results import Comparison
from app.web.comparisons import Finished
from app.web.stream import SENT, relay
from app.web.templating import build_templates
from tests.sample_runs import column, sample

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def scripted(events: Sequence[Event | Finished]) -> AsyncGenerator[Event | Finished, None]:
    # Nothing here awaits: every event reaches the relay before its timer can fire.
    for event in events:
        yield event


async def frames(events: Sequence[Event | Finished], columns: list[int]) -> list[str]:
    sent: list[str] = []
    await relay(scripted(events), columns, sent.append, build_templates())
    return sent


def finished() -> Finished:
    return Finished(Comparison(prompt="hi", columns=[]), stopped=False, seconds=1.0, run_id="r1")


async def test_text_goes_out_escaped_and_before_its_columns_results_and_the_end():
    # The request's presets fill page columns 2 and 5 (a rerun fills one column, for one).
    done_column = column(Preset(name="first"), [sample("<script>&"), sample("a")])
    sent = await frames(
        [
            Delta(0, 0, "<scr", 1, None),
            Delta(0, 1, "a", 1, None),
            Delta(0, 0, "ipt>&", 2, 12.5),
            ColumnDone(0, done_column),
            Delta(1, 0, "b\nc", 1, None),
            finished(),
        ],
        columns=[2, 5],
    )
    assert [f.splitlines()[0] for f in sent] == [
        "event: text",
        "event: c-2",
        "event: text",
        "event: done",
    ]
    first = sent[0]
    assert '<span hx-swap-oob="beforeend:#text-2-0">&lt;script&gt;&amp;</span>' in first
    assert '<span hx-swap-oob="innerHTML:#progress-2-0">2 tokens · 12.5 tok/s</span>' in first
    assert '<span hx-swap-oob="beforeend:#text-2-1">a</span>' in first
    assert "<script" not in "".join(sent)
    # A line break in the text becomes a second data line, which EventSource joins back.
    assert 'data: <span hx-swap-oob="beforeend:#text-5-0">b\ndata: c</span>' in sent[2]
    assert "Saved run" in sent[3]


async def test_a_sent_request_stops_its_sample_saying_queued():
    (sent,) = [f for f in await frames([Sent(1, 0)], columns=[2, 5]) if "text" in f]
    assert sent.startswith("event: text\n")
    assert f'<span hx-swap-oob="innerHTML:#progress-5-0">{SENT}</span>' in sent


async def test_a_relay_that_is_cancelled_closes_the_comparison():
    closed = asyncio.Event()
    started = asyncio.Event()

    async def endless() -> AsyncGenerator[Event | Finished, None]:
        try:
            yield Delta(0, 0, "x", 1, None)
            started.set()
            await asyncio.Event().wait()  # an endpoint that never answers again
            yield Delta(0, 0, "y", 2, None)  # pragma: no cover
        finally:
            closed.set()

    sent: list[str] = []
    task = asyncio.create_task(relay(endless(), [0], sent.append, build_templates()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()
