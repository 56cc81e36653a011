"""Comparisons started from the page and waiting for, or streaming to, their browser tab.

The page POSTs the form and gets back columns wired to an event stream; the stream's URL
carries a random token that finds the comparison in the database (app/storage/live.py), so
any replica or worker can serve the stream, and Stop can reach any of them. The process that
streams a comparison watches its stop flag there; a Stop that reaches that same process
stops it at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Literal
from weakref import WeakValueDictionary

from fastapi.concurrency import run_in_threadpool

from app.engine.presets import CompareRequest
from app.storage.live import LiveStore
from app.storage.outages import StoreUnavailable

log = logging.getLogger("knobs.live")
# How often a streaming process looks for a Stop pressed through another process.
POLL_EVERY = 0.5


class StopSignal(asyncio.Event):
    """Set at once by a Stop on this process, or within POLL_EVERY of one on another: while
    (and only while) the comparison waits on it, it also watches the stored stop flag."""

    def __init__(self, store: LiveStore, token: str) -> None:
        super().__init__()
        self._store = store
        self._token = token

    async def wait(self) -> Literal[True]:
        warned = False
        while not self.is_set():
            try:
                return await asyncio.wait_for(super().wait(), POLL_EVERY)
            except TimeoutError:
                pass
            try:
                if await run_in_threadpool(self._store.stopped, self._token):
                    self.set()
            except StoreUnavailable as error:
                if not warned:  # once per stream, not every half second of an outage
                    log.warning("%s; until it is back, only this process can stop it", error)
                warned = True
        return True


@dataclass
class LiveComparison:
    request: CompareRequest
    # The page column each of the request's presets fills (a rerun fills just one).
    columns: list[int]
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class LiveComparisons:
    """The page's live comparisons, kept in the database. While it is out of reach, `add`
    raises StoreUnavailable and the page runs the comparison to the end instead (see
    app/web/comparisons.py): a live view kept in one process's memory would be lost to a
    stream that reaches another replica."""

    def __init__(self, store: LiveStore) -> None:
        self.store = store
        # The streams this process serves, for an immediate Stop; weak, so a stream whose
        # client left before it began is not kept.
        self._streaming: WeakValueDictionary[str, asyncio.Event] = WeakValueDictionary()

    async def add(self, request: CompareRequest, columns: list[int]) -> str:
        """Keep `request` for its stream; `columns` are the page columns its presets fill."""
        return await run_in_threadpool(self.store.add, request, columns)

    async def claim(
        self, token: str, shape: type[CompareRequest] = CompareRequest
    ) -> LiveComparison | None:
        """The comparison for its one event stream; a second claim gets None."""
        try:
            claimed = await run_in_threadpool(self.store.claim, token, shape)
        except StoreUnavailable as error:
            log.warning("cannot look up a live comparison: %s", error)
            return None
        if claimed is None:
            return None
        live = LiveComparison(claimed.request, claimed.columns, StopSignal(self.store, token))
        if claimed.stopped:  # Stop was pressed before the stream connected
            live.stop.set()
        self._streaming[token] = live.stop
        return live

    async def stop(self, token: str) -> bool:
        local = self._streaming.get(token)
        if local is not None:
            local.set()
            return True
        try:
            return await run_in_threadpool(self.store.stop, token)
        except StoreUnavailable as error:
            log.warning("cannot stop a live comparison: %s", error)
            return False

    async def finish(self, token: str) -> None:
        self._streaming.pop(token, None)
        try:
            await run_in_threadpool(self.store.finish, token)
        except StoreUnavailable as error:  # its row is deleted by a later add()
            log.warning("%s; a finished live comparison stays in the table for now", error)
