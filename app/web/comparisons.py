"""The one path every comparison takes, whoever asks: the page, a rerun, the live stream, the
API, or work with no request at all. Caps first (nothing is sent that could not run), then a
slot (rate and in-flight limits), then the fan-out, then the save.

The service takes plain values (what to compare, and the `Caller`: who, from which address),
never a request: hang-up detection stays in the web layer, which wraps these calls. What a
comparison and a sweep do differently (their caps, how they are saved) is their `Kind`.

Saving comes last and may fail without losing anything the person paid for: the answers are
still returned and shown, with `not_saved` saying why they have no permalink. Should the store
that holds live comparisons be down when the page starts one, it runs to the end instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from app.engine.endpoints import Upstreams
from app.engine.events import ColumnDone, ComparisonDone, Event
from app.engine.fanout import stream_comparison
from app.engine.preflight import over_caps
from app.engine.presets import CompareRequest
from app.engine.prices import PriceList
from app.engine.results import Column, Comparison
from app.engine.review import review, review_column
from app.guard.limits import ComparisonLimiter, Slot
from app.settings import Settings
from app.storage.outages import StoreUnavailable
from app.storage.saved import SavedRun
from app.storage.store import RunStore
from app.web.live_views import Feed, LiveComparisons

log = logging.getLogger("knobs.comparisons")
NOT_SAVED = (
    "Not saved: the database is unavailable, so this run has no permalink and is not in the "
    "history. The answers above are complete; run again later to save them."
)
C = TypeVar("C", bound=CompareRequest)
C_contra = TypeVar("C_contra", bound=CompareRequest, contravariant=True)


@dataclass(frozen=True)
class Caller:
    """Who asks: the author a saved run records, and the client address its limits charge."""

    author: str
    client: str


@dataclass(frozen=True)
class Finished:
    """A comparison's end: its result, and where it was saved (or why it was not)."""

    comparison: Comparison
    stopped: bool
    seconds: float
    run_id: str | None
    not_saved: str | None = None

    @property
    def failed(self) -> tuple[int, int]:
        """How many samples failed, of how many."""
        samples = [s for column in self.comparison.columns for s in column.samples]
        return sum(s.error is not None for s in samples), len(samples)

    @property
    def outcome(self) -> str:
        """How the run ended, for the status line's class: never "finished" (green) when
        every sample failed."""
        failed, total = self.failed
        if self.stopped:
            return "stopped"
        if total and failed == total:
            return "failed"
        return "partly-failed" if failed else "finished"

    @property
    def message(self) -> str:
        failed, total = self.failed
        if self.outcome == "failed":
            return f"Every sample failed ({self.seconds:.1f} s); each column says why."
        verb = "Stopped after" if self.stopped else "Finished in"
        tail = f" {failed} of {total} samples failed." if failed and not self.stopped else ""
        return f"{verb} {self.seconds:.1f} s.{tail}"


class Kind(Protocol[C_contra]):
    """What one kind of comparison does its own way: the caps it is held to, how it is saved."""

    def problems(
        self, compare: C_contra, settings: Settings, endpoints: Collection[str]
    ) -> dict[str, str]: ...

    async def save(
        self, compare: C_contra, comparison: Comparison, stopped: bool, author: str
    ) -> str: ...


class SavedRuns:
    """A comparison's Kind: the comparison caps, and saved as a run in the history."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def problems(
        self, compare: CompareRequest, settings: Settings, endpoints: Collection[str]
    ) -> dict[str, str]:
        return over_caps(compare, settings, endpoints)

    async def save(
        self, compare: CompareRequest, comparison: Comparison, stopped: bool, author: str
    ) -> str:
        run = SavedRun.from_comparison(compare, comparison, stopped=stopped, author=author)
        return await self.store.save_run(run)


# What a live view shows: turns the comparison's events into frames, and publishes them.
Show = Callable[[AsyncGenerator[Event | Finished, None], Callable[[str], None]], Awaitable[None]]


class Comparisons(Generic[C]):
    """Run comparisons of one Kind: built once at start-up, used by any route or task."""

    def __init__(
        self,
        kind: Kind[C],
        upstreams: Upstreams,
        limiter: ComparisonLimiter,
        live: LiveComparisons,
        settings: Settings,
        free_base_url: str | None = None,
    ) -> None:
        self.kind = kind
        self.upstreams = upstreams
        self.limiter = limiter
        self.live = live
        self.settings = settings
        self.free_base_url = free_base_url  # the embedded model's: it costs nothing

    def problems(self, compare: C) -> dict[str, str]:
        """Over a cap, or naming an endpoint it may not use: messages by field; empty if ok."""
        return self.kind.problems(compare, self.settings, self.upstreams.names)

    async def run(self, compare: C, caller: Caller) -> Finished:
        """Run to the end and save. Cancelled (say, its client left), it closes every
        upstream request it has open."""
        started = time.perf_counter()
        async with self.limiter.slot(caller.client):
            comparison = await self._run_to_end(compare)
        return await self._save(compare, comparison, False, started, caller)

    async def start_live(self, compare: C, show: Show, caller: Caller) -> str | Finished:
        """Charge the caller, start the comparison and return its live view's token; `show`
        turns its events into the view's frames. With the store that holds live views down,
        run it to the end at once (charged once) instead: the answers come back whole, as they
        do without JavaScript, marked if not saved."""
        started = time.perf_counter()
        slot = await self.limiter.admit(caller.client)
        try:
            return await self.live.start(lambda feed: self._show(compare, feed, show, slot, caller))
        except StoreUnavailable as error:
            log.warning("no live view, running to the end instead: %s", error)
            try:
                comparison = await self._run_to_end(compare)
            finally:
                slot.release()
        except BaseException:
            slot.release()
            raise
        return await self._save(compare, comparison, False, started, caller)

    async def _show(self, compare: C, feed: Feed, show: Show, slot: Slot, caller: Caller) -> None:
        """The live comparison, holding its slot until it ends."""
        try:
            await show(self.stream(compare, feed.stop, caller), feed.publish)
        finally:
            slot.release()

    async def _run_to_end(self, compare: C) -> Comparison:
        """The whole comparison, nobody watching it stream; after the last token only the
        columns' matrix is left (`reviewed`)."""
        events = reviewed(stream_comparison(compare, self.upstreams, live=False), self.prices_for)
        try:
            async for event in events:
                if isinstance(event, ComparisonDone):
                    return event.result
        finally:
            await events.aclose()
        raise RuntimeError("comparison ended without a result")  # pragma: no cover

    def prices_for(self, column: Column) -> PriceList:
        """How a column's samples are priced: by its endpoint (free for the embedded model)."""
        upstream = self.upstreams.by_name.get(column.endpoint or "")
        if upstream is None:  # a preset's own endpoint: the price table, by its URL
            return PriceList(base_url=column.preset.base_url)
        endpoint = upstream.endpoint
        free = endpoint.base_url == self.free_base_url
        return PriceList(endpoint.base_url, endpoint.prices, free=free)

    async def stream(
        self, compare: C, stop: asyncio.Event, caller: Caller
    ) -> AsyncGenerator[Event | Finished, None]:
        """The comparison's events as they happen, ending with `Finished`."""
        started = time.perf_counter()
        events = reviewed(stream_comparison(compare, self.upstreams, stop), self.prices_for)
        try:
            async for event in events:
                if isinstance(event, ComparisonDone):
                    yield await self._save(compare, event.result, event.stopped, started, caller)
                else:
                    yield event
        finally:
            # Closing the comparison closes every upstream request it still has open.
            await events.aclose()

    async def follow(self, token: str) -> AsyncIterator[str] | None:
        """The frames of the live view the page started under `token`, for its one event
        stream; None when the token is unknown, expired or already followed."""
        return await self.live.follow(token)

    async def stop(self, token: str) -> None:
        await self.live.stop(token)

    async def _save(
        self, compare: C, comparison: Comparison, stopped: bool, started: float, caller: Caller
    ) -> Finished:
        seconds = time.perf_counter() - started
        try:
            run_id = await self.kind.save(compare, comparison, stopped, caller.author)
        except Exception as error:  # noqa: BLE001 - whatever the database did, the answers stay
            # An outage is one line in the log; anything else is a bug and gets its traceback.
            outage = isinstance(error, StoreUnavailable)
            log.warning("run not saved: %s", error, exc_info=not outage)
            return Finished(comparison, stopped, seconds, None, NOT_SAVED)
        return Finished(comparison, stopped, seconds, run_id)


async def reviewed(
    events: AsyncGenerator[Event, None],
    prices_for: Callable[[Column], PriceList],
    matrix: bool = True,
) -> AsyncGenerator[Event, None]:
    """The fan-out's events with each column looked over (costs, agreement) as soon as its
    samples are in, in a thread while the others still stream; the comparison at the end with
    its total and, with `matrix`, how far each column agrees with each other one. Every path
    that runs a comparison (the page, the API, an eval's cases) looks its columns over here."""
    done: dict[int, Column] = {}  # each finished column, looked over once
    try:
        async for event in events:
            if isinstance(event, ColumnDone):
                prices = prices_for(event.result)
                column = await _beside_the_loop(
                    _characters([event.result]), review_column, event.result, prices
                )
                done[event.column] = column
                yield ColumnDone(event.column, column)
            elif isinstance(event, ComparisonDone) and matrix:
                columns = [done.get(i, c) for i, c in enumerate(event.result.columns)]
                whole = event.result.model_copy(update={"columns": columns})
                result = await _beside_the_loop(_characters(columns), review, whole, prices_for)
                yield ComparisonDone(result, event.stopped)
            else:
                yield event
    finally:
        await events.aclose()


# Comparing every pair of long answers takes a moment of CPU (8 presets x 5 samples of 300
# words: ~11 ms for the matrix), which a thread keeps off the event loop; short answers take
# less than the hop to a thread and back costs (~0.1 ms of CPU, more under load).
INLINE_CHARACTERS = 20_000
R = TypeVar("R")


async def _beside_the_loop(characters: int, work: Callable[..., R], *args: object) -> R:
    """`work(*args)` in a thread when the answers it compares are long, else here."""
    if characters <= INLINE_CHARACTERS:
        return work(*args)
    return await asyncio.to_thread(work, *args)


def _characters(columns: list[Column]) -> int:
    return sum(len(s.text) for column in columns for s in column.samples)
