"""The garbage collector told that start-up is over.

Everything built at start-up (the modules, the app, the services: some 200,000 objects) lives
as long as the process. Left in the collector's oldest generation, each full collection walks
them all again: ~50 ms each, 373 ms in one `bench.load` run, a tenth of Knobs' CPU there.
Frozen (`gc.freeze`), they are skipped; what requests allocate is collected as before.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Objects allocated before the youngest generation is collected (Python's default: 700). A
# comparison's objects live for its seconds; collected every 700 allocations they were walked
# again and again on their way to the oldest generation (bench.load: 2.21 -> 2.14 ms of CPU
# per upstream request). Garbage cycles wait a little longer to be freed.
YOUNG = 10_000


@contextlib.contextmanager
def start_up_frozen() -> Iterator[None]:
    """While the app serves, the collector leaves alone what was alive when it started, and
    collects the youngest objects less often. Both undone at shutdown, so that an app that
    stops (in tests, many a process) leaves no garbage the collector can no longer reach."""
    gc.collect()  # garbage from start-up goes first: what is frozen is never collected
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(YOUNG, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
