"""How the store connects: SQLite tuned for safe concurrent use, PostgreSQL pooled for several
replicas, and on both a pool that replaces a connection an outage broke.

Two engines: `durable` for saved runs, `transient` for rows that only matter while in use
(live comparisons, rate buckets). On SQLite the transient one commits without an fsync; on
PostgreSQL they are the same engine.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app.ops.private_files import create_private_file
from app.storage.outages import is_outage

# Several replicas share one PostgreSQL: at most 15 connections each; a dead connection
# (server restart, failover, an idle timeout in a proxy) is replaced before it is used;
# LIFO reuse lets idle extras be closed; hours-old connections are renewed.
PG_POOL: dict[str, Any] = dict(
    pool_pre_ping=True,
    pool_size=5,
    max_overflow=10,
    pool_timeout=30,
    pool_recycle=1800,
    pool_use_lifo=True,
)
PG_CONNECT_ARGS: dict[str, Any] = {"connect_timeout": 10, "application_name": "knobs"}


def connect(url: sa.URL, busy_timeout_ms: int) -> tuple[Engine, Engine]:
    """The durable and the transient engine for `url` (already checked by `engine_url`)."""
    if url.get_backend_name() == "sqlite":
        database = url.database
        # A `file:` URI (`?uri=true`) is SQLite's to open; a plain path is made here first,
        # so that the database (every prompt, the session signing key) is private from the start.
        if database not in (None, "", ":memory:") and not url.query.get("uri"):
            # Where it cannot be made, SQLite tries and says why (a StoreError, as ever).
            with contextlib.suppress(OSError):
                create_private_file(Path(database))
        durable = sa.create_engine(url, pool_pre_ping=True)
        _tune_sqlite(durable, busy_timeout_ms, durable=True)
        transient = sa.create_engine(url, pool_pre_ping=True)
        _tune_sqlite(transient, busy_timeout_ms, durable=False)
        engines = [durable, transient]
    else:
        # Defaults the URL's own query (`?connect_timeout=5&sslmode=require`) overrides.
        connect_args = {k: v for k, v in PG_CONNECT_ARGS.items() if k not in url.query}
        durable = transient = sa.create_engine(url, connect_args=connect_args, **PG_POOL)
        engines = [durable]
    for engine in engines:
        _renew_after_outages(engine)
    return durable, transient


def _renew_after_outages(engine: Engine) -> None:
    """Treat an outage like a lost connection: the pool drops its connections instead of
    handing one that failed (SQLite after a disk I/O error, say) to the next request."""

    @sa.event.listens_for(engine, "handle_error")
    def _on_error(context: sa.engine.ExceptionContext) -> None:
        error = context.sqlalchemy_exception
        if error is not None and is_outage(error):
            context.is_disconnect = True


def _tune_sqlite(engine: Engine, busy_timeout_ms: int, durable: bool) -> None:
    """WAL, a busy timeout on every connection and real transactions for DDL; with `durable`,
    a full fsync at every commit."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling skips BEGIN before DDL, which would leave a
        # failed migration half applied; we emit BEGIN ourselves below instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _retry_locked(lambda: cursor.execute("PRAGMA journal_mode = WAL"), busy_timeout_ms)
        # FULL: a commit is on disk before save() returns, even if the power goes next.
        # NORMAL, for rows whose loss in a power cut costs nothing (live comparisons, rate
        # buckets): WAL keeps the file intact, and a commit skips the fsync (3-18 ms here).
        cursor.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("knobs_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")


def _retry_locked(statement: Callable[[], object], busy_timeout_ms: int) -> None:
    """Run `statement`, retrying while SQLite says the database is locked. Switching a new
    file to WAL can fail at once, busy timeout or not, while another process does the same."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
