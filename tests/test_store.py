"""The run store on a real SQLite file and a real PostgreSQL server: save, read, list,
delete, migrations, bad ids. Every test taking `store` or `url` runs on both; PostgreSQL's
are skipped without KNOBS_TEST_DATABASE_URL (`make test` sets it), see tests/postgres.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import PIPE

import pytest
import sqlalchemy as sa

from app.engine.presets import CompareRequest, Preset
from app.engine.results import Comparison
from app.storage import migrations
from app.storage.saved import SavedRun
from app.storage.store import RUNS, RunStore, default_url, engine_url
from tests import postgres
from tests.sample_runs import column, make_run, sample

ROOT = Path(__file__).resolve().parent.parent
BAD_IDS = ["", "../", "..%2F..%2Fetc", "%00", "\x00", "a" * 5000, "'\"<>", "a" * 21, "a b" * 10]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file under the data dir, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield default_url(tmp_path / "data")
    else:
        with postgres.fresh_schema(postgres.server_url()) as url:
            yield url


@pytest.fixture
def store(url: str) -> Iterator[RunStore]:
    store = RunStore(url)
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[RunStore]:
    store = RunStore(default_url(tmp_path / "data"))
    yield store
    store.close()


def test_a_saved_run_reads_back_whole(store: RunStore):
    run = make_run(prompt="Ünïcode 😀 <b>")
    run_id = store.save(run)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", run_id)
    assert store.get(run_id) == run.model_copy(update={"id": run_id})


def test_a_comparison_is_saved_with_its_presets_as_sent(store: RunStore):
    columns = make_run().columns
    request = CompareRequest(prompt="Hi", samples=2, presets=[c.preset for c in columns])
    comparison = Comparison(system=None, prompt="Hi", columns=columns)
    run = SavedRun.from_comparison(request, comparison, stopped=True)
    saved = store.get(store.save(run))
    assert saved is not None and saved.columns == columns
    assert (saved.prompt, saved.system, saved.samples) == ("Hi", None, 2)
    assert (saved.stopped, saved.models) == (True, ["fake-model"])
    assert saved.created_at.endswith("+00:00")


def test_ids_are_random_and_distinct(store: RunStore):
    ids = {store.save(make_run()) for _ in range(50)}
    assert len(ids) == 50


def test_the_database_file_goes_under_the_data_dir(tmp_path: Path, sqlite_store: RunStore):
    assert (tmp_path / "data" / "knobs.db").is_file()


def test_history_is_newest_first_a_page_at_a_time(store: RunStore):
    ids = [store.save(make_run(prompt=f"run {i}")) for i in range(7)]
    pages = [store.list_runs(page, 3) for page in (1, 2, 3, 4)]
    assert [len(runs) for runs, _ in pages] == [3, 3, 1, 0]
    assert {total for _, total in pages} == {7}
    listed = [run.id for runs, _ in pages for run in runs]
    assert listed == ids[::-1]
    assert pages[0][0][0].prompt_excerpt == "run 6"
    # Out-of-range pages are clamped rather than sent to the database as they are.
    assert store.list_runs(0, 3)[0] == pages[0][0]
    assert store.list_runs(10**30, 10**30)[0] == []


def test_the_summary_counts_flags_as_the_page_shows_them(store: RunStore):
    drifted = column(Preset(seed=1), [sample("a", system_fingerprint="x"), sample("b")])
    failed = column(Preset(), [sample("", error="boom"), sample("ok")])
    run = make_run(prompt="  many\n words " * 40, columns=[*make_run().columns, drifted, failed])
    store.save(run)
    summary = store.list_runs()[0][0]
    assert summary.preset_names == ["Deterministic", "Creative", "Preset 3", "Preset 4"]
    assert summary.models == ["fake-model"]
    assert (summary.truncated, summary.nondeterministic, summary.unexpected) == (1, 1, 1)
    assert (summary.drift, summary.failed, summary.stopped) == (1, 1, False)
    assert summary.prompt_excerpt.startswith("many words many")
    assert summary.prompt_excerpt.endswith("…") and len(summary.prompt_excerpt) <= 160


def test_delete_removes_the_run(store: RunStore):
    kept, gone = store.save(make_run()), store.save(make_run())
    assert store.delete(gone) is True
    assert store.delete(gone) is False
    assert store.get(gone) is None
    assert store.get(kept) is not None
    assert store.list_runs()[1] == 1


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_find_nothing(store: RunStore, bad: str):
    store.save(make_run())
    assert store.get(bad) is None
    assert store.delete(bad) is False


def test_an_unknown_well_formed_id_finds_nothing(store: RunStore):
    assert store.get("A" * 22) is None


def test_sqlite_is_set_for_durability(sqlite_store: RunStore):
    with sqlite_store.engine.connect() as conn:
        pragma = conn.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
        assert pragma("PRAGMA busy_timeout").scalar() == 30_000


def test_saves_from_many_threads_all_land(store: RunStore):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: store.save(make_run(prompt=str(i))), range(80)))
    assert store.list_runs(1, 200)[1] == 80
    assert all(store.get(i) is not None for i in ids)


def test_migrations_are_recorded_and_run_once(store: RunStore, url: str):
    names = [m.__name__ for m in migrations.MIGRATIONS]
    assert migrations.applied(store.engine) == names
    assert migrations.migrate(store.engine) == []
    RunStore(url).close()  # a second start-up changes nothing
    assert migrations.applied(store.engine) == names


def test_the_migrated_schema_is_the_one_the_store_queries(store: RunStore):
    columns = [c["name"] for c in sa.inspect(store.engine).get_columns("runs")]
    assert columns == [c.name for c in RUNS.c]


def test_an_old_database_is_upgraded_in_place(url: str, tmp_path: Path):
    (tmp_path / "data").mkdir()
    engine = sa.create_engine(engine_url(url))
    assert migrations.migrate(engine, upto=1) == ["m001_runs"]
    run = make_run(columns=[column(Preset(), [sample("", error="boom"), sample("fine")])])
    run.id = "Old" + "x" * 19
    later = ("seq", "failed", "setting_refused", "refused", "reasoning_budget")
    old = sa.table("runs", *(sa.column(c.name) for c in RUNS.c if c.name not in later))
    row = dict(
        id=run.id,
        created_at=run.created_at,
        prompt_excerpt="old",
        preset_names=json.dumps(["Preset 1"]),
        models="[]",
        samples=2,
        truncated=0,
        nondeterministic=1,
        unexpected=0,
        drift=0,
        stopped=False,
        body=run.model_dump_json(),
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(old).values(row))
    engine.dispose()

    store = RunStore(url)
    try:
        assert migrations.applied(store.engine) == [m.__name__ for m in migrations.MIGRATIONS]
        assert store.get(run.id) == run
        assert store.list_runs()[0][0].failed == 1
    finally:
        store.close()


def test_a_failing_migration_leaves_nothing_behind(store: RunStore, monkeypatch):
    def m999_broken(conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE TABLE half_done (a INTEGER)"))
        raise RuntimeError("broken migration")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m999_broken])
    with pytest.raises(RuntimeError):
        migrations.migrate(store.engine)
    assert not sa.inspect(store.engine).has_table("half_done")
    assert "m999_broken" not in migrations.applied(store.engine)


SLOW_RUNS: list[str] = []


def m900_slow(conn: sa.Connection) -> None:
    """A migration that holds its transaction open until every other starter has arrived."""
    SLOW_RUNS.append(conn.dialect.name)
    time.sleep(0.4)


def test_replicas_starting_at_once_migrate_once(url: str, monkeypatch):
    """Four stores opening one new database at the same moment: no error, each migration
    applied once (a starter that did not wait would fail on the tables, or redo m900)."""
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m900_slow])
    SLOW_RUNS.clear()
    starters = 4
    barrier = threading.Barrier(starters)

    def start_up(_: int) -> None:
        barrier.wait(10)
        RunStore(url).close()

    with ThreadPoolExecutor(starters) as pool:
        list(pool.map(start_up, range(starters)))  # re-raises any starter's error
    assert len(SLOW_RUNS) == 1
    store = RunStore(url)
    try:
        assert migrations.applied(store.engine) == [m.__name__ for m in migrations.MIGRATIONS]
        assert store.list_runs() == ([], 0)
    finally:
        store.close()


STARTER = """
import sys
from app.storage import migrations
from app.storage.store import RunStore
from tests.test_store import m900_slow

migrations.MIGRATIONS.append(m900_slow)
print("ready", flush=True)
sys.stdin.readline()
RunStore(sys.argv[1]).close()
print("started", flush=True)
"""


def test_processes_starting_at_once_migrate_once(url: str):
    """Two Knobs processes on one database, both starting up at the same moment."""
    command = [sys.executable, "-c", STARTER, url]
    starters = [
        subprocess.Popen(command, cwd=ROOT, stdin=PIPE, stdout=PIPE, stderr=PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for starter in starters:
            assert starter.stdout is not None and starter.stdout.readline() == "ready\n"
        for starter in starters:  # released into RunStore() together
            assert starter.stdin is not None
            starter.stdin.write("go\n")
            starter.stdin.flush()
        results = [starter.communicate(timeout=60) for starter in starters]
    finally:
        for starter in starters:
            starter.kill()
    for starter, (out, err) in zip(starters, results, strict=True):
        assert starter.returncode == 0, err
        assert out == "started\n"
    store = RunStore(url)
    try:
        names = [m.__name__ for m in migrations.MIGRATIONS]
        assert migrations.applied(store.engine) == [*names, "m900_slow"]
        assert store.list_runs() == ([], 0)
    finally:
        store.close()
