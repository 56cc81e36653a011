"""Sign-in attempts limited per client address, so that a token or password cannot be guessed.

Each failed attempt takes one from the address's bucket of MAX_FAILURES a minute; once it is
empty every attempt from that address, right or wrong, is refused until it refills. A correct
one takes nothing. The buckets are the store's (app/storage/rate_buckets.py) once Knobs has
started, so that every replica counts an address's failures alike.
"""

from __future__ import annotations

import math

from app.guard.limits import Buckets, MemoryBuckets

MAX_FAILURES = 10  # a minute, per client address


class SigninThrottle:
    """Failed sign-ins per address: `wait(address)` says how long that address must wait."""

    def __init__(self, buckets: Buckets | None = None, max_failures: int = MAX_FAILURES) -> None:
        self.buckets: Buckets = buckets or MemoryBuckets()
        self.max_failures = max_failures

    async def wait(self, address: str) -> int:
        """Seconds before `address` may try again; 0 when it may try now."""
        wait = await self.buckets.peek(_key(address), self.max_failures)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    async def failed(self, address: str) -> None:
        await self.buckets.take(_key(address), self.max_failures)


def too_many_failures(wait: int) -> str:
    return f"Too many failed sign-ins from your address. Try again in {wait} s."


def _key(address: str) -> str:
    # Kept apart from the same address's allowance of comparisons in the same table.
    return f"sign-in {address}"
