"""How many requests one endpoint takes at once, and the line the rest wait in.

Knobs sends an endpoint no more requests than it answers at once, so that the wait happens
here, where Knobs' clock can tell it apart from the endpoint's work, and not in a queue hidden
in the server (which would land in time to first token). The line is first come, first served;
fanout.py asks in round-robin order across columns, so every column gets its first answer early.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import httpx2

# llama.cpp's server answers GET /props (beside /v1) with its number of slots.
PROPS_TIMEOUT_SECONDS = 2.0


class Slots:
    """At most `size` holders at once; the others wait in the order they asked. The size can
    change while requests wait (when the endpoint reports its own)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    def resize(self, size: int) -> None:
        self.size = size
        self._admit()

    async def take(self) -> float | None:
        """Wait for a slot; the seconds waited, or None when one was free at once. A waiter
        cancelled before its turn (Stop, a deadline) leaves the line without a trace."""
        if self.busy < self.size and not self._waiting:
            self.busy += 1
            return None
        asked = time.perf_counter()
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # given a slot just as it was cancelled
                self.give_back()
            else:
                self._waiting.remove(turn)
            raise
        return time.perf_counter() - asked

    def give_back(self) -> None:
        self.busy -= 1
        self._admit()

    def _admit(self) -> None:
        while self._waiting and self.busy < self.size:
            turn = self._waiting.popleft()
            if not turn.done():
                self.busy += 1
                turn.set_result(None)


class EndpointSlots(Slots):
    """One endpoint's slots: as stated (the endpoints TOML, or the embedded server's one),
    else as the server reports them once asked, else KNOBS_CONCURRENCY_PER_ENDPOINT."""

    def __init__(self, stated: int | None, default: int) -> None:
        super().__init__(stated or default)
        self.default = default
        self._asked = stated is not None
        self._asking = asyncio.Lock()

    async def learn(self, http: httpx2.AsyncClient, base_url: str, api_key: str | None) -> None:
        """Ask the server for its slots, once; the first comparison's requests wait for it."""
        if self._asked:
            return
        async with self._asking:
            if self._asked:
                return
            try:
                reported = await reported_slots(http, base_url, api_key)
            except httpx2.ConnectError:
                return  # the server is not up (yet): ask again with the next request
            self._asked = True
            if reported:
                self.resize(min(reported, self.default))


def props_url(base_url: str) -> str:
    """llama.cpp's /props beside an OpenAI base URL (`http://host:8080/v1` -> `/props`)."""
    root = base_url.rstrip("/")
    return (root.removesuffix("/v1") or root) + "/props"


async def reported_slots(
    http: httpx2.AsyncClient, base_url: str, api_key: str | None
) -> int | None:
    """The number of slots the server says it has (llama.cpp's `total_slots`), or None when
    it does not say: other servers answer 404, or something that is not llama.cpp's.
    httpx2.ConnectError when nothing answers at all."""
    # llama.cpp asks for the key on /props too, when it has one; it is the same server.
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        answer = await http.get(props_url(base_url), headers=headers, timeout=PROPS_TIMEOUT_SECONDS)
        total = answer.json().get("total_slots") if answer.status_code == 200 else None
    except httpx2.ConnectError:
        raise
    except (httpx2.HTTPError, ValueError, AttributeError):
        return None
    return total if isinstance(total, int) and not isinstance(total, bool) and total > 0 else None
