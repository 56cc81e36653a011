"""Limits checked before any upstream call: body size, comparisons per client, at once.

The body limit is pure ASGI middleware: it must see the bytes as they arrive. The two
comparison limits live in one ComparisonLimiter that the routes enter where a comparison
starts, `async with comparison_slot(request):`, since only a route knows (POST / starts one
for "run" but not for "+ Column"). The event stream takes its slot through `StreamSlot`, which
holds it until the stream is over.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
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
        return refusal(scope["path"], 413, "Request too large", message)


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


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Slot:
    """One running comparison; release() is idempotent so every exit path may call it."""

    def __init__(self, limiter: ComparisonLimiter) -> None:
        self._limiter: ComparisonLimiter | None = limiter

    def release(self) -> None:
        if self._limiter is not None:
            self._limiter.inflight -= 1
            self._limiter = None


class ComparisonLimiter:
    """A token bucket per client address and one count of comparisons running, for the app."""

    def __init__(
        self,
        per_minute: int,
        max_inflight: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.max_inflight = max_inflight
        self.clock = clock
        self.inflight = 0
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, client: str, *, charge: bool = True) -> Slot:
        """A slot for one comparison, charged to `client` unless `charge` is false; else 429.

        Nothing here awaits: asyncio only switches tasks at an await, so the checks and the
        increments happen as one step for every other coroutine, and a limit of 5 admits 5.
        """
        now = self.clock()
        bucket = self._bucket(client, now) if charge else None
        if bucket is not None and bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) * 60 / self.per_minute)
            raise TooManyComparisons(
                f"Too many comparisons from your address: the limit is {self.per_minute} a "
                f"minute. Try again in {wait} s.",
                wait,
            )
        if self.inflight >= self.max_inflight:
            # Refused before the token is taken: a busy server should not cost the client.
            raise TooManyComparisons(
                f"Knobs is running {self.inflight} comparisons, as many as it allows at once. "
                f"Try again in a few seconds.",
                BUSY_RETRY_AFTER,
            )
        if bucket is not None:
            bucket.tokens -= 1
        self.inflight += 1
        return Slot(self)

    def _bucket(self, client: str, now: float) -> _Bucket:
        rate = self.per_minute / 60
        if len(self._buckets) > MAX_TRACKED_CLIENTS:
            self._buckets = {
                key: b
                for key, b in self._buckets.items()
                if b.tokens + (now - b.updated) * rate < self.per_minute
            }
        bucket = self._buckets.setdefault(client, _Bucket(self.per_minute, now))
        bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        return bucket


@asynccontextmanager
async def comparison_slot(request: Request, *, charge: bool = True) -> AsyncIterator[None]:
    """Hold a comparison slot for the block, or raise TooManyComparisons (429)."""
    limiter: ComparisonLimiter = request.app.state.limiter
    # Behind a proxy, uvicorn's --proxy-headers puts the real address here.
    client = request.client.host if request.client else "unknown"
    slot = limiter.admit(client, charge=charge)
    try:
        yield
    finally:
        slot.release()


async def _hold_stream(request: Request) -> AsyncIterator[None]:
    # The page was charged when it asked for the stream's token; the stream holds the slot.
    async with comparison_slot(request, charge=False):
        yield


# For the stream route's `dependencies=[...]`. FastAPI (0.118 on) closes such a dependency after the
# response has been sent, so the slot is held until the stream ends or the client leaves.
StreamSlot = Depends(_hold_stream)


async def explain_too_many(request: Request, error: Exception) -> Response:
    """The 429 as JSON under /api and as a short page elsewhere, Retry-After included."""
    assert isinstance(error, TooManyComparisons)
    return refusal(request.url.path, 429, "Too many comparisons", error.detail, error.headers)
