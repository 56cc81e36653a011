"""Limits checked before any upstream call: body size, comparisons per client, at once.

The body limit is pure ASGI middleware: it must see the bytes as they arrive. The two
comparison limits live in one ComparisonLimiter that the comparison service enters where a
comparison starts, `async with limiter.slot(client):`, since only a route knows (POST / starts
one for "run" but not for "+ Column"). A live comparison, which outlives the POST that starts
it, takes its slot with `admit(client)` and releases it when it ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from fastapi import HTTPException, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.guard.refusal import refusal

# A full server cannot say when a slot frees up; comparisons usually take seconds.
BUSY_RETRY_AFTER = 5
# Past this many client addresses, forget the ones whose buckets have refilled.
MAX_TRACKED_CLIENTS = 10_000


class BodyLimit:
    """413 for a request body over `max_bytes`, counted as it arrives.

    A declared Content-Length that is too large is refused before the app runs; a body without
    one (chunked), or longer than it claimed, is cut off at the limit: the client gets the 413
    and the app sees the client leave.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self.too_large(scope)(scope, receive, send)
            return

        received = 0
        refused = False
        responding = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not responding:
                        await self.too_large(scope)(scope, receive, send)
                    # The app stops reading as it would for a client that left.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal responding
            if refused:
                return  # the client has its 413; the app's answer to a cut-off body is moot
            responding = responding or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            # Reading a cut-off body makes Starlette raise ClientDisconnect; already answered.
            if not refused:
                raise

    def too_large(self, scope: Scope) -> Response:
        message = (
            f"The request is larger than {self.max_bytes:,} bytes, the most Knobs accepts "
            "(KNOBS_MAX_BODY_BYTES). Shorten the prompt or the system message."
        )
        return refusal(scope, 413, "Request too large", message)


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class TooManyComparisons(HTTPException):
    """429 with Retry-After; `explain_too_many` says it as a page outside /api."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message, headers={"Retry-After": str(retry_after)})


class Buckets(Protocol):
    """Each client's allowance of comparisons: a token bucket per client."""

    async def take(self, client: str, per_minute: int) -> float:
        """Take one from `client`'s bucket: 0 when there was one, else the seconds until
        there is."""
        ...

    async def peek(self, client: str, per_minute: int) -> float:
        """Seconds until `client`'s bucket has one (0: now), taking nothing."""
        ...


@dataclass
class Bucket:
    tokens: float
    updated: float

    def refilled(self, per_minute: int, now: float) -> Bucket:
        """The bucket as it stands at `now`: refilled at `per_minute` since it was last
        taken from, up to full (a clock that stepped back refills nothing)."""
        tokens = self.tokens + max(0.0, now - self.updated) * per_minute / 60
        return Bucket(min(float(per_minute), tokens), now)


class MemoryBuckets:
    """Buckets in this process's memory: right for one process, and what the store's buckets
    (app/storage/rate_buckets.py) fall back on while the database is out of reach."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}

    async def take(self, client: str, per_minute: int) -> float:
        return self.take_now(client, per_minute)

    async def peek(self, client: str, per_minute: int) -> float:
        return self.take_now(client, per_minute, peek=True)

    def take_now(self, client: str, per_minute: int, peek: bool = False) -> float:
        now = self.clock()
        if len(self._buckets) > MAX_TRACKED_CLIENTS:  # a full bucket is the same as none
            self._buckets = {
                key: b
                for key, b in self._buckets.items()
                if b.refilled(per_minute, now).tokens < per_minute
            }
        full = Bucket(per_minute, now)
        bucket = self._buckets[client] = self._buckets.get(client, full).refilled(per_minute, now)
        return take_one(bucket, per_minute / 60, peek)


def take_one(bucket: Bucket, rate: float, peek: bool = False) -> float:
    """Take a token (unless `peek`) from a bucket already refilled to now: 0, or the seconds
    until one is there."""
    if bucket.tokens < 1:
        return (1 - bucket.tokens) / rate
    if not peek:
        bucket.tokens -= 1
    return 0.0


class Slot:
    """One running comparison; release() is idempotent so every exit path may call it."""

    def __init__(self, limiter: ComparisonLimiter) -> None:
        self._limiter: ComparisonLimiter | None = limiter

    def release(self) -> None:
        if self._limiter is not None:
            self._limiter.inflight -= 1
            self._limiter = None


class ComparisonLimiter:
    """A token bucket per client address (in `buckets`: the store's, so that every replica
    counts alike) and this process's count of comparisons running."""

    def __init__(self, per_minute: int, max_inflight: int, buckets: Buckets | None = None) -> None:
        self.per_minute = per_minute
        self.max_inflight = max_inflight
        self.buckets: Buckets = buckets or MemoryBuckets()
        self.inflight = 0

    async def admit(self, client: str) -> Slot:
        """A slot for one comparison, charged to `client`; else 429.

        The in-flight check and count happen before the first await: asyncio only switches
        tasks at an await, so they are one step for every other coroutine, and a limit of 5
        admits 5. A busy server refuses before the bucket is touched: it costs the client
        nothing.
        """
        if self.inflight >= self.max_inflight:
            raise TooManyComparisons(
                f"Knobs is running {self.inflight} comparisons, as many as it allows at once. "
                f"Try again in a few seconds.",
                BUSY_RETRY_AFTER,
            )
        self.inflight += 1
        slot = Slot(self)
        try:
            wait = await self.buckets.take(client, self.per_minute)
        except BaseException:
            slot.release()
            raise
        if wait > 0:
            slot.release()
            seconds = math.ceil(wait)
            raise TooManyComparisons(
                f"Too many comparisons from your address: the limit is {self.per_minute} a "
                f"minute. Try again in {seconds} s.",
                seconds,
            )
        return slot

    async def charge(self, client: str) -> None:
        """Charge `client` one comparison, or 429, for work that runs on without holding an
        in-flight slot (an eval runs on the server, its cases a few at a time)."""
        (await self.admit(client)).release()

    @asynccontextmanager
    async def slot(self, client: str) -> AsyncIterator[None]:
        """Hold a comparison slot for `client` for the block, or raise TooManyComparisons."""
        held = await self.admit(client)
        try:
            yield
        finally:
            held.release()


async def explain_too_many(request: Request, error: Exception) -> Response:
    """The 429 as JSON under /api and as a short page elsewhere, Retry-After included."""
    assert isinstance(error, TooManyComparisons)
    return refusal(request.scope, 429, "Too many comparisons", error.detail, error.headers)
