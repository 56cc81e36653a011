"""Each client's allowance per minute (of comparisons, of failed sign-ins), in the database,
so that every replica counts alike: kept in one process's memory, a limit lets a client
through once per replica.

Implements `Buckets` (app/guard/limits.py). One short transaction per comparison started, on
the store's transient connection (no fsync on SQLite: a bucket lost to a power cut only
refills early). While the database is out of reach, each process counts in memory instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from anyio.to_thread import run_sync
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from app.guard.limits import Bucket, MemoryBuckets, take_one
from app.storage.outages import StoreUnavailable, outages_raised, unreachable

log = logging.getLogger("knobs.limits")
_UNREACHABLE = unreachable("rate limits")
RATE_BUCKETS = sa.Table(
    "rate_buckets",
    sa.MetaData(),
    sa.Column("client", sa.String(200), primary_key=True),
    sa.Column("tokens", sa.Float),
    sa.Column("updated", sa.Float),
)
# A bucket untouched for a minute is full again, the same as no row: such rows are deleted,
# every so many takes.
FULL_AFTER_SECONDS = 60.0
PRUNE_EVERY = 64


class StoredBuckets:
    """Token buckets in the `rate_buckets` table, one row per client address."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock  # wall-clock time: replicas share it, not their monotonic clocks
        self.fallback = MemoryBuckets(clock)
        self._takes = 0
        self._warned = False

    async def take(self, client: str, per_minute: int) -> float:
        return await self._ask(client, per_minute, peek=False)

    async def peek(self, client: str, per_minute: int) -> float:
        return await self._ask(client, per_minute, peek=True)

    async def _ask(self, client: str, per_minute: int, peek: bool) -> float:
        try:
            wait = await run_sync(self.take_now, client[:200], per_minute, peek)
        except StoreUnavailable as error:
            if not self._warned:  # once per outage, not on every comparison
                log.warning("%s; rate limits are counted per process until it is back", error)
            self._warned = True
            return self.fallback.take_now(client, per_minute, peek)
        self._warned = False
        return wait

    def take_now(self, client: str, per_minute: int, peek: bool = False) -> float:
        now = self.clock()
        if peek:
            # A plain read: every request with a Bearer token asks, and a look must not take
            # the write lock, nor make a row for a client who has none.
            with outages_raised(_UNREACHABLE), self.engine.connect() as conn:
                row = conn.execute(_select(client)).one_or_none()
            if row is None:  # no row: a full bucket
                return 0.0
            return take_one(_refilled(row, per_minute, now), per_minute / 60, peek=True)
        self._takes += 1
        with (
            outages_raised(_UNREACHABLE),
            # IMMEDIATE: SQLite takes the write lock before the read, as PostgreSQL's row
            # lock below does, so two replicas cannot both spend the last token.
            self.engine.execution_options(knobs_begin="IMMEDIATE").begin() as conn,
        ):
            if self._takes % PRUNE_EVERY == 0:
                stale = RATE_BUCKETS.c.updated < now - FULL_AFTER_SECONDS
                conn.execute(sa.delete(RATE_BUCKETS).where(stale))
            _insert_full(conn, client, per_minute, now)
            bucket = _refilled(
                conn.execute(_select(client).with_for_update()).one(), per_minute, now
            )
            wait = take_one(bucket, per_minute / 60)
            if not wait:
                values = {"tokens": bucket.tokens, "updated": now}
                where = RATE_BUCKETS.c.client == client
                conn.execute(sa.update(RATE_BUCKETS).where(where).values(**values))
            return wait


def _select(client: str) -> sa.Select[tuple[float, float]]:
    columns = (RATE_BUCKETS.c.tokens, RATE_BUCKETS.c.updated)
    return sa.select(*columns).where(RATE_BUCKETS.c.client == client)


def _refilled(row: sa.Row[tuple[float, float]], per_minute: int, now: float) -> Bucket:
    """The stored bucket as it stands at `now`."""
    return Bucket(row.tokens, row.updated).refilled(per_minute, now)


def _insert_full(conn: Connection, client: str, per_minute: int, now: float) -> None:
    """A full bucket for a client who has none; nothing if another replica made it first."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {"client": client, "tokens": float(per_minute), "updated": now}
    conn.execute(dialect.insert(RATE_BUCKETS).values(**values).on_conflict_do_nothing())
