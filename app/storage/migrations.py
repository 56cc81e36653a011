"""Versioned schema migrations: an ordered list of functions, each applied once, in order.

`_knobs_migrations` records the ones that ran. New releases append a function here and
never edit one that has shipped: old databases are upgraded in place at start-up. The DDL
is SQLAlchemy Core or standard SQL, so it runs on SQLite and PostgreSQL alike. Migrations
read stored JSON as plain dicts, never through today's models, which may have moved on.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

Migration = Callable[[Connection], None]
MIGRATIONS: list[Migration] = []
# PostgreSQL advisory lock held while migrating: one database-wide number, "knobs" in ASCII.
LOCK_KEY = 0x6B6E6F6273

_applied = sa.Table(
    "_knobs_migrations",
    sa.MetaData(),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("applied_at", sa.String(40), nullable=False),
)


def migration(function: Migration) -> Migration:
    MIGRATIONS.append(function)
    return function


def applied(engine: Engine) -> list[str]:
    """Names of the migrations this database has had, in the order they ran."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_applied.name):
            return []
        return list(conn.scalars(sa.select(_applied.c.name).order_by(_applied.c.name)))


def migrate(engine: Engine, upto: int | None = None) -> list[str]:
    """Apply pending migrations (the first `upto` only, for tests) in one transaction."""
    ran = []
    # Several processes starting at once (replicas, workers) take turns instead of both
    # reading "nothing applied" and colliding: IMMEDIATE on SQLite takes the write lock at
    # BEGIN (other databases ignore the option); PostgreSQL takes an advisory lock first.
    # Either is held until this transaction ends, so the next one finds the work done.
    with engine.execution_options(knobs_begin="IMMEDIATE").begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
        _applied.create(conn, checkfirst=True)
        done = set(conn.scalars(sa.select(_applied.c.name)))
        for function in MIGRATIONS[:upto]:
            if function.__name__ in done:
                continue
            function(conn)
            now = datetime.now(UTC).isoformat(timespec="microseconds")
            conn.execute(sa.insert(_applied).values(name=function.__name__, applied_at=now))
            ran.append(function.__name__)
    return ran


@migration
def m001_runs(conn: Connection) -> None:
    """Saved runs: the whole run as JSON, plus the columns the history page lists."""
    runs = sa.Table(
        "runs",
        sa.MetaData(),
        # Newest first follows insertion order, whatever the clocks of several replicas say.
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False, index=True),
        sa.Column("prompt_excerpt", sa.Text, nullable=False),
        sa.Column("preset_names", sa.Text, nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("truncated", sa.Integer, nullable=False),
        sa.Column("nondeterministic", sa.Integer, nullable=False),
        sa.Column("unexpected", sa.Integer, nullable=False),
        sa.Column("drift", sa.Integer, nullable=False),
        sa.Column("stopped", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    runs.create(conn)


@migration
def m002_failed_samples(conn: Connection) -> None:
    """Count failed samples per run, so the history can show them; existing runs backfilled."""
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN failed INTEGER NOT NULL DEFAULT 0"))
    runs = sa.table("runs", sa.column("id"), sa.column("body"), sa.column("failed"))
    for run_id in list(conn.scalars(sa.select(runs.c.id))):
        body = json.loads(conn.scalar(sa.select(runs.c.body).where(runs.c.id == run_id)) or "{}")
        failed = sum(
            1
            for column in body.get("columns", [])
            for sample in column.get("samples", [])
            if sample.get("error") is not None
        )
        if failed:
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(failed=failed))


@migration
def m003_live_comparisons(conn: Connection) -> None:
    """Comparisons the page started, so that any replica can stream or stop them."""
    live = sa.Table(
        "live_comparisons",
        sa.MetaData(),
        # A hash of the token; the token itself is never stored.
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("request", sa.Text, nullable=False),
        # Custom endpoints' keys, sealed with the token (see app/storage/live_frames.py).
        sa.Column("sealed_keys", sa.Text, nullable=True),
        sa.Column("page_columns", sa.Text, nullable=False),
        # Seconds since the epoch: replicas' monotonic clocks cannot be compared.
        sa.Column("created", sa.Float, nullable=False, index=True),
        sa.Column("claimed", sa.Boolean, nullable=False),
        sa.Column("stopped", sa.Boolean, nullable=False),
    )
    live.create(conn)


@migration
def m004_capabilities(conn: Connection) -> None:
    """What each endpoint's models refused, learnt once and used by every replica."""
    capabilities = sa.Table(
        "capabilities",
        sa.MetaData(),
        sa.Column("base_url", sa.String(2000), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        # The learnt Capabilities as JSON: refuses, renames, only.
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    capabilities.create(conn)


@migration
def m005_reasoning_flags(conn: Connection) -> None:
    """Count the flags of today's models per run (a refused setting, a refusal, a budget
    spent on reasoning), so the history shows them; existing runs backfilled."""
    kinds = ("setting_refused", "refused", "reasoning_budget")
    for kind in kinds:
        conn.execute(sa.text(f"ALTER TABLE runs ADD COLUMN {kind} INTEGER NOT NULL DEFAULT 0"))
    runs = sa.table("runs", sa.column("id"), sa.column("body"), *map(sa.column, kinds))
    for run_id in list(conn.scalars(sa.select(runs.c.id))):
        body = json.loads(conn.scalar(sa.select(runs.c.body).where(runs.c.id == run_id)) or "{}")
        # Flagged columns, as the page counts them: these three show whenever they are set.
        flags = [column.get("flags") or {} for column in body.get("columns", [])]
        counts = {kind: sum(bool(f.get(kind)) for f in flags) for kind in kinds}
        if any(counts.values()):
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(**counts))


@migration
def m006_access(conn: Connection) -> None:
    """Who ran each run (existing runs were anonymous: there was no sign-in), and the key
    that signs session cookies, made once and shared by every replica and restart."""
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN author VARCHAR(200)"))
    conn.execute(sa.text("UPDATE runs SET author = 'anonymous'"))
    conn.execute(sa.text("CREATE INDEX ix_runs_author ON runs (author, seq)"))
    keys = sa.Table(
        "secret_keys",
        sa.MetaData(),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    keys.create(conn)
    conn.execute(sa.insert(keys).values(name="sessions", value=secrets.token_hex(32)))


@migration
def m008_sweeps(conn: Connection) -> None:
    """Saved sweeps: the whole sweep as JSON, plus the columns their history lists."""
    sweeps = sa.Table(
        "sweeps",
        sa.MetaData(),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False, index=True),
        sa.Column("prompt_excerpt", sa.Text, nullable=False),
        # The varied knobs' names as a JSON list, in the sweep's order.
        sa.Column("knobs", sa.Text, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("stopped", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        # Who ran it, as for runs (m006): only they, or an admin, may delete it.
        sa.Column("author", sa.String(200), nullable=True),
    )
    sweeps.create(conn)


@migration
def m009_rate_buckets(conn: Connection) -> None:
    """Each client's allowance of comparisons, shared by every replica (a limit kept in one
    process's memory lets a client through once per replica)."""
    buckets = sa.Table(
        "rate_buckets",
        sa.MetaData(),
        sa.Column("client", sa.String(200), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),  # seconds since the epoch
    )
    buckets.create(conn)


@migration
def m010_live_frames(conn: Connection) -> None:
    """Live views as frames, not requests: the process that takes the page's POST runs the
    comparison at once and writes the view's frames for whichever replica streams it. The
    old table held requests for the streaming replica to run; any still in it were views
    whose tab had not yet connected, and their tab is told the view has ended."""
    sa.Table("live_comparisons", sa.MetaData()).drop(conn, checkfirst=True)
    metadata = sa.MetaData()
    sa.Table(
        "live_views",
        metadata,
        # A hash of the token; the token itself is never stored.
        sa.Column("token_hash", sa.String(64), primary_key=True),
        # Seconds since the epoch: replicas' monotonic clocks cannot be compared.
        sa.Column("created", sa.Float, nullable=False, index=True),
        sa.Column("touched", sa.Float, nullable=False),
        sa.Column("claimed", sa.Boolean, nullable=False),
        sa.Column("stopped", sa.Boolean, nullable=False),
        sa.Column("ended", sa.Boolean, nullable=False),
    )
    sa.Table(
        "live_frames",
        metadata,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("batch", sa.Integer, primary_key=True),
        sa.Column("frames", sa.Text, nullable=False),
    )
    metadata.create_all(conn)


@migration
def m011_sessions(conn: Connection) -> None:
    """Sessions still open, so that Sign out ends one on every replica (a signed cookie alone
    lives until its date). Existing cookies carry no session id and end: people sign in again."""
    sessions = sa.Table(
        "sessions",
        sa.MetaData(),
        # A hash of the session id; the id itself lives only in the cookie.
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, index=True),
        sa.Column("expires", sa.Float, nullable=False, index=True),  # seconds since the epoch
    )
    sessions.create(conn)


@migration
def m012_sweeps_by_author(conn: Connection) -> None:
    """One person's sweeps, as `/sweeps` lists them when signed in, found as runs are (m006)."""
    conn.execute(sa.text("CREATE INDEX ix_sweeps_author ON sweeps (author, seq)"))


@migration
def m013_evals(conn: Connection) -> None:
    """Evals: what was asked (the body) and how far it got, plus the columns the history lists;
    each finished cell (a case under a preset) in a row of its own, written as it finishes, so
    that a crash loses only the cells in flight and Resume runs only the missing ones."""
    metadata = sa.MetaData()
    sa.Table(
        "evals",
        metadata,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False, index=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("preset_names", sa.Text, nullable=False),  # a JSON list
        sa.Column("cases", sa.Integer, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        # running | finished | stopped | interrupted; "running" with no heartbeat for a while
        # is read as interrupted (its runner died without a word).
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stop_requested", sa.Boolean, nullable=False),
        sa.Column("runner", sa.String(64), nullable=False),  # which process runs it now
        sa.Column("heartbeat", sa.Float, nullable=False),  # seconds since the epoch
        sa.Column("started", sa.Float, nullable=False),  # this stretch of running began
        sa.Column("done_at_start", sa.Integer, nullable=False),  # samples done when it began
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=True, index=True),
    )
    sa.Table(
        "eval_cells",
        metadata,
        sa.Column("eval_id", sa.String(64), primary_key=True),
        sa.Column("case_index", sa.Integer, primary_key=True),
        sa.Column("preset_index", sa.Integer, primary_key=True),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("column_json", sa.Text, nullable=False),
    )
    metadata.create_all(conn)


@migration
def m014_reviews(conn: Connection) -> None:
    """Blind reviews of a run, a sweep or an eval, and their votes: one per reviewer and case,
    replaced when changed. The seed draws each reviewer's order of the answers; the answers
    themselves are read from the reviewed item each time."""
    metadata = sa.MetaData()
    sa.Table(
        "reviews",
        metadata,
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),  # run | sweep | eval
        sa.Column("item_id", sa.String(64), nullable=False, index=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
    )
    sa.Table(
        "review_votes",
        metadata,
        sa.Column("review_id", sa.String(64), primary_key=True),
        sa.Column("reviewer", sa.String(200), primary_key=True),
        sa.Column("case_index", sa.Integer, primary_key=True),
        sa.Column("winner", sa.Integer, nullable=True),  # null: a tie between the two shown
        sa.Column("shown", sa.Text, nullable=False),  # the presets shown, a JSON list
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("voted_at", sa.Float, nullable=False),
    )
    # Reviewers numbered as they arrive: the number rotates their order of the answers.
    sa.Table(
        "review_reviewers",
        metadata,
        sa.Column("review_id", sa.String(64), primary_key=True),
        sa.Column("reviewer", sa.String(200), primary_key=True),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.UniqueConstraint("review_id", "slot"),
    )
    metadata.create_all(conn)
