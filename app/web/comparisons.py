"""The one path every comparison takes, whoever asks: the page, a rerun, the live stream or
the API. Caps first (nothing is sent that could not run), then a slot (rate and in-flight
limits), then the fan-out, then the save.

Saving comes last and may fail without losing anything the person paid for: the answers are
still returned and shown, with `not_saved` saying why they have no permalink. Should the store
that holds live comparisons be down when the page starts one, it runs to the end instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.engine.caps import over_caps
from app.engine.endpoints import Upstreams
from app.engine.events import ColumnDone, ComparisonDone, Event
from app.engine.fanout import run_comparison, stream_comparison
from app.engine.presets import CompareRequest
from app.engine.prices import PriceList
from app.engine.results import Column, Comparison
from app.engine.review import review, review_column
from app.guard.limits import Slot, admit, comparison_slot
from app.settings import Settings
from app.storage.outages import StoreUnavailable
from app.storage.saved import SavedRun
from app.storage.store import RunStore
from app.web.deps import get_identity
from app.web.hangup import unless_client_leaves
from app.web.live import Feed, LiveComparisons

log = logging.getLogger("knobs.comparisons")
NOT_SAVED = (
    "Not saved: the database is unavailable, so this run has no permalink and is not in the "
    "history. The answers above are complete; run again later to save them."
)


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


# What a live view shows: turns the comparison's events into frames, and publishes them.
Show = Callable[[AsyncGenerator[Event | Finished, None], Callable[[str], None]], Awaitable[None]]


class Comparisons:
    """What a route needs to run comparisons, taken from the app once per request."""

    def __init__(self, request: Request) -> None:
        state = request.app.state
        self.request = request
        self.upstreams: Upstreams = state.upstreams
        self.store: RunStore = state.store
        self.live: LiveComparisons = state.live
        self.settings: Settings = state.settings
        # Saved runs record who ran them; the live stream is asked for by the same person.
        self.author = get_identity(request).name

    def problems(self, compare: CompareRequest) -> dict[str, str]:
        """Over a cap, or naming an endpoint it may not use: messages by field; empty if ok."""
        return over_caps(compare, self.settings, self.upstreams.names)

    async def run(self, compare: CompareRequest) -> Finished:
        """Run to the end and save; the upstream requests close if the client leaves."""
        started = time.perf_counter()
        async with comparison_slot(self.request):
            comparison = await self._run_to_end(compare)
        return await self._save(compare, comparison, stopped=False, started=started)

    async def start_live(self, compare: CompareRequest, show: Show) -> str | Finished:
        """Charge the client, start the comparison and return its live view's token; `show`
        turns its events into the view's frames. With the store that holds live views down,
        run it to the end at once (charged once) instead: the answers come back whole, as they
        do without JavaScript, marked if not saved."""
        started = time.perf_counter()
        slot = await admit(self.request)
        try:
            return await self.live.start(lambda feed: self._show(compare, feed, show, slot))
        except StoreUnavailable as error:
            log.warning("no live view, running to the end instead: %s", error)
            try:
                comparison = await self._run_to_end(compare)
            finally:
                slot.release()
        except BaseException:
            slot.release()
            raise
        return await self._save(compare, comparison, stopped=False, started=started)

    async def _show(self, compare: CompareRequest, feed: Feed, show: Show, slot: Slot) -> None:
        """The live comparison, holding its slot until it ends."""
        try:
            await show(self.stream(compare, feed.stop), feed.publish)
        finally:
            slot.release()

    async def _run_to_end(self, compare: CompareRequest) -> Comparison:
        comparison = await unless_client_leaves(
            self.request, run_comparison(compare, self.upstreams)
        )
        # In a thread: comparing every pair of long answers takes a moment of CPU.
        return await asyncio.to_thread(review, comparison, self.prices_for)

    def prices_for(self, column: Column) -> PriceList:
        """How a column's samples are priced: by its endpoint (free for the embedded model)."""
        upstream = self.upstreams.by_name.get(column.endpoint or "")
        if upstream is None:  # a preset's own endpoint: the price table, by its URL
            return PriceList(base_url=column.preset.base_url)
        endpoint = upstream.endpoint
        embedded = getattr(self.request.app.state, "embedded", None)
        free = embedded is not None and endpoint.base_url == embedded.base_url
        return PriceList(endpoint.base_url, endpoint.prices, free=free)

    async def stream(
        self, compare: CompareRequest, stop: asyncio.Event
    ) -> AsyncGenerator[Event | Finished, None]:
        """The comparison's events as they happen, ending with `Finished`."""
        started = time.perf_counter()
        events = stream_comparison(compare, self.upstreams, stop)
        reviewed: dict[int, Column] = {}  # each finished column, looked over once
        try:
            async for event in events:
                if isinstance(event, ColumnDone):
                    prices = self.prices_for(event.result)
                    column = await asyncio.to_thread(review_column, event.result, prices)
                    reviewed[event.column] = column
                    yield ColumnDone(event.column, column)
                elif isinstance(event, ComparisonDone):
                    columns = [reviewed.get(i, c) for i, c in enumerate(event.result.columns)]
                    whole = event.result.model_copy(update={"columns": columns})
                    result = await asyncio.to_thread(review, whole, self.prices_for)
                    yield await self._save(compare, result, event.stopped, started)
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
        self, compare: CompareRequest, comparison: Comparison, stopped: bool, started: float
    ) -> Finished:
        seconds = time.perf_counter() - started
        try:
            run_id: str | None = await self._keep(compare, comparison, stopped)
        except Exception as error:  # noqa: BLE001 - whatever the database did, the answers stay
            # An outage is one line in the log; anything else is a bug and gets its traceback.
            outage = isinstance(error, StoreUnavailable)
            log.warning("run not saved: %s", error, exc_info=not outage)
            return Finished(comparison, stopped, seconds, None, NOT_SAVED)
        return Finished(comparison, stopped, seconds, run_id)

    async def _keep(self, compare: CompareRequest, comparison: Comparison, stopped: bool) -> str:
        """Save the result and return its id (a sweep saves itself as a sweep instead)."""
        run = SavedRun.from_comparison(compare, comparison, stopped=stopped, author=self.author)
        return await self.store.save_run(run)


ComparisonsDep = Annotated[Comparisons, Depends(Comparisons)]
