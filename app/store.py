"""The run store: saved runs in any database SQLAlchemy speaks, SQLite by default.

The methods are synchronous; async callers use `run_in_threadpool` / `asyncio.to_thread`.
Only the connection set-up knows about SQLite; every query is SQLAlchemy Core, so a
`DATABASE_URL` for PostgreSQL needs no other change here.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Connection, Engine

from app.migrations import migrate
from app.saved import RunSummary, SavedRun, summarize

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,64}")
ID_BYTES = 16  # 128 random bits, 22 URL-safe characters
BUSY_TIMEOUT_MS = 30_000
MAX_PER_PAGE = 200

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
)
_SUMMARY = [c for c in RUNS.c if c.name not in ("seq", "body")]


def default_url(data_dir: Path) -> str:
    """`sqlite:///<data_dir>/knobs.db`, the database a fresh install uses."""
    return f"sqlite:///{(data_dir / 'knobs.db').resolve()}"


def valid_id(run_id: str) -> bool:
    """True for a string shaped like a run id; anything else is never looked up."""
    return ID_PATTERN.fullmatch(run_id) is not None


class RunStore:
    """Save, read, list and delete runs. Thread-safe: one engine, a pool of connections."""

    def __init__(self, url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(parsed, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            _tune_sqlite(self.engine, busy_timeout_ms)
        migrate(self.engine)

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
        with self.engine.begin() as conn:
            conn.execute(sa.insert(RUNS).values(row))
        return run_id

    async def save_async(self, run: SavedRun) -> str:
        """`save` from async code, off the event loop."""
        return await run_in_threadpool(self.save, run)

    def get(self, run_id: str) -> SavedRun | None:
        """The run, or None when there is none by that id (or it cannot be an id)."""
        if not valid_id(run_id):
            return None
        with self.engine.connect() as conn:
            body = conn.scalar(sa.select(RUNS.c.body).where(RUNS.c.id == run_id))
        return None if body is None else SavedRun.model_validate_json(body)

    def list_runs(self, page: int = 1, per_page: int = 20) -> tuple[list[RunSummary], int]:
        """One page of summaries, newest first, and the number of runs in all."""
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        page = min(max(page, 1), 10**9)  # keeps the offset inside any database's integers
        query = (
            sa.select(*_SUMMARY)
            .order_by(RUNS.c.seq.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        with self.engine.connect() as conn:
            total = conn.scalar(sa.select(sa.func.count()).select_from(RUNS)) or 0
            rows = conn.execute(query).mappings().all()
        return [_summary(dict(row)) for row in rows], total

    def delete(self, run_id: str) -> bool:
        """Delete the run; False when there was none."""
        if not valid_id(run_id):
            return False
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(RUNS).where(RUNS.c.id == run_id)).rowcount > 0

    def close(self) -> None:
        self.engine.dispose()


def _summary(row: dict[str, Any]) -> RunSummary:
    row["preset_names"] = json.loads(row["preset_names"])
    row["models"] = json.loads(row["models"])
    return RunSummary.model_validate(row)


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, full fsync and a busy timeout on every connection; real transactions for DDL."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling skips BEGIN before DDL, which would leave a
        # failed migration half applied; we emit BEGIN ourselves below instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before save() returns, even if the power goes next.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("knobs_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")
