"""The garbage collector told that start-up is over.

Everything built at start-up (the modules, the app, the services: some 200,000 objects) lives
as long as the process. Left in the collector's oldest generation, each full collection walks
them all again: ~50 ms each, several a second under a burst of comparisons, a tenth of Knobs'
CPU in `bench.load`. Frozen, they are skipped (the practice `gc.freeze`'s documentation gives
for long-lived servers); what a request allocates is collected as before.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def start_up_frozen() -> Iterator[None]:
    """While the app serves, the collector leaves alone what was alive when it started.
    Unfrozen at shutdown, so an app that stops (in tests, many a process) leaves no garbage
    the collector can no longer reach."""
    gc.collect()  # garbage from start-up goes first: what is frozen is never collected
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
