"""The run store: saved runs in SQLite (the default) or PostgreSQL (`DATABASE_URL`).

The methods are synchronous; async callers use `run_in_threadpool` / `asyncio.to_thread`.
Only the connection set-up (engines.py) knows which database it is; every query is
SQLAlchemy Core, and the schema comes from the same migrations on both. A plain
`postgresql://` URL is served by psycopg 3, which the default install brings. Errors and logs
show URLs with the password hidden (`postgresql://knobs:***@db/knobs`). A database out of
reach raises StoreUnavailable (outages.py), which the web layer answers with 503; `ping` is
the readiness check.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from anyio.to_thread import run_sync
from pydantic import SecretStr
from sqlalchemy.engine import Connection

from app.storage.engines import connect
from app.storage.migrations import migrate
from app.storage.outages import StoreUnavailable, outages_raised
from app.storage.saved import RunSummary, SavedRun, summarize

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,64}")
ID_BYTES = 16  # 128 random bits, 22 URL-safe characters
BUSY_TIMEOUT_MS = 30_000
MAX_PER_PAGE = 200
BACKENDS = ("sqlite", "postgresql")
EXPECTED = "expected postgresql://user:password@host:5432/database, or unset for SQLite"
# The runs table as the migrations leave it, column for column and in their order (which is
# why the flag counts, one per counted flag of app/engine/flags.py, are not generated here:
# tests/test_flag_table.py checks that they match).
RUNS = sa.Table(
    "runs",
    sa.MetaData(),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64)),
    sa.Column("created_at", sa.String(40)),
    sa.Column("prompt_excerpt", sa.Text),
    sa.Column("preset_names", sa.Text),
    sa.Column("models", sa.Text),
    sa.Column("samples", sa.Integer),
    sa.Column("truncated", sa.Integer),
    sa.Column("nondeterministic", sa.Integer),
    sa.Column("unexpected", sa.Integer),
    sa.Column("drift", sa.Integer),
    sa.Column("stopped", sa.Boolean),
    sa.Column("body", sa.Text),
    sa.Column("failed", sa.Integer),
    sa.Column("setting_refused", sa.Integer),
    sa.Column("refused", sa.Integer),
    sa.Column("reasoning_budget", sa.Integer),
    sa.Column("author", sa.String(200)),
)


class StoreError(RuntimeError):
    """The run store cannot be used: a bad URL, or a database that cannot be reached or
    migrated. The message names the database with its password hidden."""


def default_url(data_dir: Path) -> str:
    """`sqlite:///<data_dir>/knobs.db`, the database a fresh install uses."""
    return f"sqlite:///{(data_dir / 'knobs.db').resolve()}"


def store_url(database_url: str | SecretStr | None, data_dir: Path) -> str:
    """Where runs are stored: `DATABASE_URL` when it is set, else SQLite under `data_dir`.

    Raises StoreError for a URL that is neither SQLite nor PostgreSQL, without its password.
    """
    if isinstance(database_url, SecretStr):
        database_url = database_url.get_secret_value()
    if database_url is None or not database_url.strip():
        return default_url(data_dir)
    url = database_url.strip()
    engine_url(url)  # refuse a bad URL at start-up, before any connection is tried
    return url


def engine_url(url: str | sa.URL) -> sa.URL:
    """The URL SQLAlchemy connects with: plain `postgresql://` (or `postgres://`) gets
    psycopg 3; an explicit driver (`postgresql+psycopg2://`) is kept."""
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        # The text is not echoed: it may well hold a password.
        raise StoreError(f"DATABASE_URL is not a database URL; {EXPECTED}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":  # Heroku's and many tools' spelling
        backend = "postgresql"
    if backend not in BACKENDS:
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"Knobs stores runs in SQLite or PostgreSQL, not {shown}; {EXPECTED}")
    if backend == "postgresql":
        parsed = parsed.set(drivername=f"postgresql+{driver or 'psycopg'}")
    return parsed


def valid_id(run_id: str) -> bool:
    """True for a string shaped like a run id; anything else is never looked up."""
    return ID_PATTERN.fullmatch(run_id) is not None


class RunStore:
    """Save, read, list and delete runs. Thread-safe: one engine, a pool of connections.

    `transient` is the engine for rows that only matter while they are in use (live
    comparisons, rate buckets): on SQLite, connections that commit without an fsync; on
    PostgreSQL, the same engine.
    """

    def __init__(self, url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        """Connect to `url` (see `store_url`) and bring its schema up to date.

        Raises StoreError, naming the database with its password hidden, when it cannot be
        reached or migrated; a bad URL raises it before anything is tried.
        """
        self.url: sa.URL = engine_url(url)
        self.engine, self.transient = connect(self.url, busy_timeout_ms)
        try:
            migrate(self.engine)
        except sa.exc.SQLAlchemyError as error:
            self.close()
            raise StoreError(
                f"cannot use the database at {self.where}: {self._reason(error)}"
            ) from error

    @property
    def where(self) -> str:
        """The database as it may be logged: its URL with the password hidden."""
        return self.url.render_as_string(hide_password=True)

    def _reason(self, error: sa.exc.SQLAlchemyError) -> str:
        """The driver's one-line reason, with the password masked should it ever show up."""
        cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
        reason = " ".join(str(cause).split()) or type(cause).__name__
        password = self.url.password
        return reason.replace(password, "***") if password else reason

    @contextmanager
    def connection(self, write: bool = False) -> Iterator[Connection]:
        """A connection, in a transaction committed on exit when `write`. A database out of
        reach raises StoreUnavailable; any other database error goes up as it is."""
        with (
            outages_raised(lambda error: f"{self.where} is unavailable: {self._reason(error)}"),
            self.engine.begin() if write else self.engine.connect() as conn,
        ):
            yield conn

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers and runs could be saved in it."""
        with self.connection() as conn:
            conn.execute(sa.text("SELECT 1"))
        # SQLite answers SELECT 1 from a pooled connection even when its file is gone or
        # read-only; saving needs the file and its folder (for the journal) writable.
        database = self.url.database if self.url.get_backend_name() == "sqlite" else None
        if database and database != ":memory:":
            path = Path(database)
            for where in (path, path.parent):
                if not os.access(where, os.W_OK):
                    raise StoreUnavailable(f"{self.where} is unavailable: {where} is not writable")

    def save(self, run: SavedRun) -> str:
        """Store the run under a new random id; committed before the id is returned."""
        run_id = secrets.token_urlsafe(ID_BYTES)
        stored = run.model_copy(update={"id": run_id})
        summary = summarize(stored)
        row = summary.model_dump()
        row.update(
            preset_names=json.dumps(summary.preset_names),
            models=json.dumps(summary.models),
            body=stored.model_dump_json(),
        )
        with self.connection(write=True) as conn:
            conn.execute(sa.insert(RUNS).values(row))
        return run_id

    async def save_run(self, run: SavedRun) -> str:
        """`save` from async code, off the event loop."""
        return await run_sync(self.save, run)

    def get(self, run_id: str) -> SavedRun | None:
        """The run, or None when there is none by that id (or it cannot be an id)."""
        if not valid_id(run_id):
            return None
        with self.connection() as conn:
            body = conn.scalar(sa.select(RUNS.c.body).where(RUNS.c.id == run_id))
        return None if body is None else SavedRun.model_validate_json(body)

    def list_runs(
        self, page: int = 1, per_page: int = 20, author: str | None = None
    ) -> tuple[list[RunSummary], int]:
        """One page of summaries, newest first (only `author`'s, if named), and how many."""
        with self.connection() as conn:
            rows, total = history_page(conn, RUNS, page, per_page, author)
        return [_summary(row) for row in rows], total

    def delete(self, run_id: str) -> bool:
        """Delete the run; False when there was none."""
        if not valid_id(run_id):
            return False
        with self.connection(write=True) as conn:
            return conn.execute(sa.delete(RUNS).where(RUNS.c.id == run_id)).rowcount > 0

    def close(self) -> None:
        self.engine.dispose()
        self.transient.dispose()


def history_page(
    conn: Connection, table: sa.Table, page: int, per_page: int, author: str | None
) -> tuple[list[dict[str, Any]], int]:
    """One page of a saved kind's rows (runs, sweeps), newest first and without their bodies;
    only `author`'s if named; and how many there are in all."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = min(max(page, 1), 10**9)  # keeps the offset inside any database's integers
    mine = table.c.author == author if author is not None else sa.true()
    query = (
        sa.select(*(c for c in table.c if c.name not in ("seq", "body")))
        .where(mine)
        .order_by(table.c.seq.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    total = conn.scalar(sa.select(sa.func.count()).select_from(table).where(mine)) or 0
    return [dict(row) for row in conn.execute(query).mappings()], total


def _summary(row: dict[str, Any]) -> RunSummary:
    row["preset_names"] = json.loads(row["preset_names"])
    row["models"] = json.loads(row["models"])
    return RunSummary.model_validate(row)
