"""Live views of comparisons started from the page, which any replica can stream or stop.

The page's POST starts the comparison at once, in the process that took it, and its frames
gather in a `Feed`; the tab's event stream, which connects a moment later, reads them from the
start. A stream that reaches the same process reads the feed in memory; one that reaches
another replica or worker reads the copy the runner writes to the database
(app/storage/live_frames.py). Starting at the POST rather than when the stream connects means the
requests are out while the browser is still swapping in the form and opening the stream.

Stop reaches the runner at once on its own process, and within WATCH_EVERY through the
database from any other. A tab that leaves stops its comparison (open requests are closed,
partial answers saved); one that never connects stops it after UNWATCHED_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from fastapi.concurrency import run_in_threadpool
from fastapi.templating import Jinja2Templates

from app.storage.live_frames import UNCLAIMED_SECONDS, LiveStore
from app.storage.outages import StoreUnavailable
from app.web.frames import HEARTBEAT, end_frame

log = logging.getLogger("knobs.live")
# A comparison whose tab has not connected this long is stopped: tabs connect within a
# second, and one that never does (closed at once, or its script failed) should not run up
# a bill for minutes.
UNWATCHED_SECONDS = 30.0
# How often the runner writes a sign of life and reads whether Stop was pressed elsewhere.
WATCH_EVERY = 0.5
# The runner writes new frames at most this often: a text frame comes every 0.1 s anyway.
WRITE_EVERY = 0.1
# How often a stream on another replica reads new frames.
FOLLOW_EVERY = 0.1
# With nothing to send, a stream writes a heartbeat this often.
HEARTBEAT_EVERY = 1.0
# A runner that has not written for this long has died (its process ended mid-comparison).
LOST_AFTER = 15.0
LOST = (
    "The Knobs process running this comparison stopped answering, so its live view ended. "
    "Press Run to compare again."
)
CRASHED = "Something went wrong while running this comparison (the server log says what)."


class Feed:
    """The frames of one live view, as its comparison makes them, and its Stop."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.ended = False
        self.followed = False  # a stream on this process reads it
        self.claimed = False  # a stream on any process reads it
        self.stop = asyncio.Event()
        self._changed = asyncio.Event()

    def publish(self, frame: str) -> None:
        self.frames.append(frame)
        self._wake()

    def end(self) -> None:
        self.ended = True
        self._wake()

    async def changes_after(self, seen: int, at_most: float) -> None:
        """Until there are more than `seen` frames or the feed ended, or `at_most` seconds."""
        if len(self.frames) > seen or self.ended:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), at_most)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


# What a live view shows: reads the comparison's events and publishes frames.
Produce = Callable[[Feed], Awaitable[None]]


class LiveComparisons:
    """The live views: those this process runs (in memory) and every replica's (in `store`)."""

    def __init__(self, store: LiveStore, templates: Jinja2Templates) -> None:
        self.store = store
        self.templates = templates  # for the frame that says why a view ended
        self._feeds: dict[str, Feed] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # held: asyncio keeps only weak ones

    async def start(self, produce: Produce) -> str:
        """Start a live view on this process; the token its stream and Stop use. Raises
        StoreUnavailable when the database is out of reach: a view only one process could
        serve would be lost to a stream that reaches another."""
        token = await run_in_threadpool(self.store.add)
        feed = self._feeds[token] = Feed()
        task = asyncio.create_task(self._run(token, feed, produce))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return token

    async def follow(self, token: str) -> AsyncIterator[str] | None:
        """The view's frames for its one stream, from the first; None when the token is
        unknown or expired, or another stream already follows it."""
        feed = self._feeds.get(token)
        try:
            claimed = await run_in_threadpool(self.store.claim, token)
        except StoreUnavailable as error:
            log.warning("cannot look up a live view: %s", error)
            claimed = feed is not None and not feed.followed  # its own views still stream
        if not claimed:
            return None
        if feed is None:
            return self._from_store(token)
        feed.followed = True
        return self._from_memory(token, feed)

    async def stop(self, token: str) -> bool:
        feed = self._feeds.get(token)
        if feed is not None:
            feed.stop.set()
            return True
        try:
            return await run_in_threadpool(self.store.stop, token)
        except StoreUnavailable as error:
            log.warning("cannot stop a live comparison: %s", error)
            return False

    async def _run(self, token: str, feed: Feed, produce: Produce) -> None:
        mirror = asyncio.create_task(self._mirror(token, feed))
        try:
            await produce(feed)
        except Exception:  # a bug: the view still ends, saying so, and nothing else is hurt
            log.exception("a live comparison failed")
            feed.publish(end_frame(self.templates, CRASHED))
        finally:
            feed.end()
            await mirror
            if feed.claimed or feed.followed:  # the stream reading it holds it
                self._feeds.pop(token, None)
            else:  # kept a while for a tab that connects late
                loop = asyncio.get_running_loop()
                loop.call_later(UNCLAIMED_SECONDS, self._feeds.pop, token, None)

    async def _mirror(self, token: str, feed: Feed) -> None:
        """Copy the feed to the database for streams on other replicas, with a sign of life
        every WATCH_EVERY; learn from it of a Stop pressed elsewhere, and of a stream."""
        written, batches, warned = 0, 0, False
        begun = time.monotonic()
        while True:
            await feed.changes_after(written, WATCH_EVERY)
            ended, batch = feed.ended, feed.frames[written:]
            try:
                seen = await run_in_threadpool(self.store.write, token, batches, batch, ended)
            except StoreUnavailable as error:
                if not warned:  # once per comparison, not every half second of an outage
                    log.warning("%s; until it is back, only this process can stream it", error)
                warned = True
                if ended:
                    return
                await asyncio.sleep(WATCH_EVERY)
                continue
            written += len(batch)
            batches += 1 if batch else 0
            feed.claimed = feed.claimed or seen.claimed
            unwatched = time.monotonic() - begun > UNWATCHED_SECONDS and not feed.claimed
            if seen.stopped or unwatched:
                feed.stop.set()
            if ended:
                return
            await asyncio.sleep(WRITE_EVERY)

    async def _from_memory(self, token: str, feed: Feed) -> AsyncIterator[str]:
        seen = 0
        try:
            while True:
                await feed.changes_after(seen, HEARTBEAT_EVERY)
                if len(feed.frames) > seen:
                    new, seen = feed.frames[seen:], len(feed.frames)
                    yield "".join(new)
                elif feed.ended:
                    break
                else:
                    yield HEARTBEAT
        finally:
            if not feed.ended:  # the tab left: the comparison stops, its requests close
                feed.stop.set()
        await self._finish(token)

    async def _from_store(self, token: str) -> AsyncIterator[str]:
        batch, ended, warned = 0, False, False
        heard = beat = time.monotonic()  # the runner's last news, this stream's last write
        try:
            while True:
                try:
                    view = await run_in_threadpool(self.store.read, token, batch)
                except StoreUnavailable as error:
                    if not warned:
                        log.warning("a live view waits for the database: %s", error)
                    warned, view = True, None
                else:
                    if view is None:  # deleted: it expired, or its runner is long gone
                        yield end_frame(self.templates, LOST)
                        return
                    if time.time() - view.touched < LOST_AFTER:
                        heard = time.monotonic()
                if view is not None and view.frames:
                    batch = view.next_batch
                    beat = time.monotonic()
                    yield "".join(view.frames)
                    continue  # there may be more: read again at once
                if view is not None and view.ended:
                    ended = True
                    break
                if time.monotonic() - heard > LOST_AFTER:
                    yield end_frame(self.templates, LOST)
                    return
                if time.monotonic() - beat >= HEARTBEAT_EVERY:
                    beat = time.monotonic()
                    yield HEARTBEAT
                await asyncio.sleep(FOLLOW_EVERY)
        finally:
            if not ended:  # the tab left (or the runner is gone): ask the runner to stop
                # Shielded: the stream's own cancellation would cancel this await too.
                with anyio.CancelScope(shield=True), contextlib.suppress(StoreUnavailable):
                    await run_in_threadpool(self.store.stop, token)
        await self._finish(token)

    async def _finish(self, token: str) -> None:
        self._feeds.pop(token, None)
        try:
            await run_in_threadpool(self.store.finish, token)
        except StoreUnavailable as error:  # its rows are deleted by a later start()
            log.warning("%s; a finished live view stays in the table for now", error)
