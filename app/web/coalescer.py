"""Streamed text held briefly, so the live page gets a few frames a second instead of one per
token: a browser that swaps every token falls behind an endpoint at 100 tokens/s or more.

Pure: the caller passes the clock and decides when to send. Text is kept per sample in arrival
order; what `take` returns joins every piece since the last take, with the latest progress.
"""

from __future__ import annotations

from dataclasses import replace

from app.engine.events import Delta, Thinking

Held = Delta | Thinking
# A sample's answer and its reasoning are held apart: they go to different places.
Key = tuple[int, int, bool]


class Coalescer:
    """Deltas per sample since the last flush; flushes at most once every `every` seconds."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._parts: dict[Key, list[str]] = {}
        self._latest: dict[Key, Held] = {}
        self._flushed = float("-inf")

    def add(self, delta: Held) -> None:
        key = (delta.column, delta.sample, isinstance(delta, Thinking))
        self._parts.setdefault(key, []).append(delta.text)
        self._latest[key] = delta

    def due_in(self, now: float) -> float:
        """Seconds from `now` until the next flush may go: 0 once `every` has passed."""
        return max(0.0, self._flushed + self.every - now)

    def take(self, now: float) -> list[Held]:
        """Everything held, one delta per sample, and the interval starts again at `now`."""
        self._flushed = now
        return self._drain(list(self._parts))

    def take_column(self, column: int) -> list[Held]:
        """What one column holds, to send before its results replace its live text."""
        return self._drain([key for key in self._parts if key[0] == column])

    def _drain(self, keys: list[Key]) -> list[Held]:
        return [replace(self._latest.pop(key), text="".join(self._parts.pop(key))) for key in keys]
