"""Comparisons started from the page and waiting for, or streaming to, their browser tab.

The page POSTs the form and gets back columns wired to an event stream; the stream's URL
carries a random token that finds the comparison here. Stop sets its event.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from app.engine.presets import CompareRequest

# A comparison whose tab never connected is forgotten after this long.
UNCLAIMED_SECONDS = 300.0


@dataclass
class LiveComparison:
    request: CompareRequest
    # The page column each of the request's presets fills (a rerun fills just one).
    columns: list[int]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    created: float = field(default_factory=time.monotonic)
    claimed: bool = False


class LiveComparisons:
    def __init__(self) -> None:
        self._items: dict[str, LiveComparison] = {}

    async def add(self, request: CompareRequest, columns: list[int] | None = None) -> str:
        self._forget_stale()
        token = secrets.token_urlsafe(16)
        self._items[token] = LiveComparison(request, columns or list(range(len(request.presets))))
        return token

    async def claim(self, token: str) -> LiveComparison | None:
        """The comparison for its one event stream; a second claim gets None."""
        live = self._items.get(token)
        if live is None or live.claimed:
            return None
        live.claimed = True
        return live

    async def stop(self, token: str) -> bool:
        live = self._items.get(token)
        if live is None:
            return False
        live.stop.set()
        return True

    async def finish(self, token: str) -> None:
        self._items.pop(token, None)

    def _forget_stale(self) -> None:
        cutoff = time.monotonic() - UNCLAIMED_SECONDS
        for token in [t for t, c in self._items.items() if not c.claimed and c.created < cutoff]:
            del self._items[token]
