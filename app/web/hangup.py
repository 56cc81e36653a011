"""End a comparison when the client that asked for it has gone away.

Starlette does not cancel a handler when its client disconnects (only streaming responses
notice), so a script that times out would otherwise leave every upstream request running,
and paid for, until the last token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")
# How often to look for the client. It bounds how long upstream requests outlive it.
CHECK_EVERY = 0.5


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


async def unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it (and so closing its upstream requests) if the client leaves."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=CHECK_EVERY)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGone()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
