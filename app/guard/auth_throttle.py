"""Sign-in attempts limited per client address, so that a token or password cannot be guessed.

Failed attempts are counted in a window per address; past the limit every attempt from that
address, right or wrong, is refused until its window ends. A correct one is not counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
# Past this many addresses, forget those whose window is over.
MAX_TRACKED = 10_000


class SigninThrottle:
    """Failed sign-ins per address: `wait(address)` says how long that address must wait."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, tuple[float, int]] = {}  # address: (window start, count)

    def wait(self, address: str) -> int:
        """Seconds before `address` may try again; 0 when it may try now."""
        start, count = self._failures.get(address, (0.0, 0))
        left = start + self.window - self.clock()
        if count < self.max_failures or left <= 0:
            return 0
        return max(1, math.ceil(left))

    def failed(self, address: str) -> None:
        now = self.clock()
        if len(self._failures) > MAX_TRACKED:
            self._failures = {
                a: entry for a, entry in self._failures.items() if entry[0] + self.window > now
            }
        start, count = self._failures.get(address, (now, 0))
        if start + self.window <= now:
            start, count = now, 0
        self._failures[address] = (start, count + 1)
