"""DATABASE_URL: choosing the database, PostgreSQL's connection set-up, passwords kept out of
errors, and two Knobs instances (replicas) sharing their saved runs through one PostgreSQL.

The store API itself runs on both databases in tests/test_store.py. Tests that need the
server are skipped without KNOBS_TEST_DATABASE_URL (`make test` sets it, and fails a skip).
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.main import create_app
from app.settings import Settings
from app.storage.store import RunStore, StoreError, default_url, engine_url, store_url
from tests import postgres
from tests.conftest import services, settings_for
from tests.fake_upstream import FakeUpstream
from tests.sample_runs import make_run

PASSWORD = "pw-canary-7f3a"  # must never show up in an error


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty schema on the test server, as the URL every replica is given."""
    with postgres.fresh_schema(postgres.server_url()) as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- which database -------------------------------------------------------------------------


@pytest.mark.parametrize("unset", [None, "", "   ", SecretStr("")])
def test_without_database_url_runs_go_to_sqlite_in_the_data_dir(unset, tmp_path: Path):
    assert store_url(unset, tmp_path) == default_url(tmp_path)
    assert store_url(unset, tmp_path).endswith("/knobs.db")


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://knobs:pw@db.internal:5432/knobs",
        " postgresql://knobs:pw@db.internal/knobs?sslmode=require\n",
        "postgres://knobs:pw@db.internal/knobs",
        "postgresql+psycopg://knobs:pw@db.internal/knobs",
        "sqlite:////srv/knobs/runs.db",
    ],
)
def test_a_database_url_is_used_as_given(given: str, tmp_path: Path):
    assert store_url(given, tmp_path) == given.strip()
    assert store_url(SecretStr(given), tmp_path) == given.strip()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:pw@h/db", "postgresql+psycopg"),
        ("postgres://u:pw@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg2://u:pw@h/db", "postgresql+psycopg2"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_a_plain_postgresql_url_is_served_by_psycopg_3(given: str, driver: str):
    assert engine_url(given).drivername == driver


def test_the_url_keeps_quoted_passwords_and_libpq_options():
    url = engine_url("postgresql://knobs:p%40ss%2Fw%3Ard@db:6432/knobs?sslmode=require")
    assert (url.username, url.password, url.host, url.port) == ("knobs", "p@ss/w:rd", "db", 6432)
    assert dict(url.query) == {"sslmode": "require"}
    assert "p@ss" not in repr(url) and "***" in repr(url)


@pytest.mark.parametrize(
    "bad",
    [
        f"knobs:{PASSWORD}@db/knobs",
        f"postgresql://knobs:{PASSWORD}@db:port/knobs",
        f"mysql://knobs:{PASSWORD}@db/knobs",
        f"redis://:{PASSWORD}@db:6379",
    ],
)
def test_a_bad_database_url_stops_start_up_without_showing_its_password(bad: str, tmp_path):
    with pytest.raises(StoreError) as caught:
        store_url(bad, tmp_path)
    assert "postgresql://user:password@host:5432/database" in str(caught.value)
    assert PASSWORD not in everything_about(caught.value)


def everything_about(error: BaseException) -> str:
    """The error as a log would show it: message, traceback, causes and all."""
    return "".join(traceback.format_exception(error))


def test_an_unreachable_server_stops_start_up_without_showing_the_password():
    url = f"postgresql://knobs:{PASSWORD}@127.0.0.1:{free_port()}/knobs"
    with pytest.raises(StoreError) as caught:
        RunStore(url)
    message = str(caught.value)
    assert message.startswith("cannot use the database at postgresql+psycopg://knobs:***@127.0.0.1")
    assert "Connection refused" in message
    assert PASSWORD not in everything_about(caught.value)


# --- on a real server -------------------------------------------------------------------------


def test_a_wrong_password_is_named_but_not_shown(pg_url: str):
    wrong = sa.make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)
    with pytest.raises(StoreError) as caught:
        RunStore(wrong)
    assert "password authentication failed" in str(caught.value)
    assert PASSWORD not in everything_about(caught.value)


def test_postgresql_connections_suit_several_replicas(pg_url: str):
    store = RunStore(pg_url)
    try:
        pool = store.engine.pool
        assert isinstance(pool, sa.QueuePool)
        assert (pool.size(), pool._max_overflow, pool._pre_ping) == (5, 10, True)
        assert store.engine.dialect.driver == "psycopg"
        with store.engine.connect() as conn:
            assert conn.scalar(sa.text("SHOW application_name")) == "knobs"
            assert conn.scalar(sa.text("SHOW server_encoding")) == "UTF8"
        assert store.where.startswith("postgresql+psycopg://") and "***" in store.where
    finally:
        store.close()


def test_the_urls_own_options_win(pg_url: str):
    url = sa.make_url(pg_url).update_query_dict({"application_name": "knobs-eu-1"})
    store = RunStore(url.render_as_string(hide_password=False))
    try:
        with store.engine.connect() as conn:
            assert conn.scalar(sa.text("SHOW application_name")) == "knobs-eu-1"
    finally:
        store.close()


def test_a_dropped_connection_is_replaced_before_use(pg_url: str):
    """A replica whose pooled connections the server ended (restart, failover) carries on."""
    store = RunStore(pg_url)
    try:
        run_id = store.save(make_run())
        with store.engine.connect() as conn:
            pids = {conn.scalar(sa.text("SELECT pg_backend_pid()"))}
        killer = sa.create_engine(engine_url(pg_url), poolclass=sa.NullPool)
        with killer.begin() as conn:
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        killer.dispose()
        assert store.get(run_id) is not None
    finally:
        store.close()


# --- two replicas, one database ---------------------------------------------------------------


@pytest.fixture
def replicas(
    pg_url: str, fake: FakeUpstream, tmp_path: Path
) -> Iterator[tuple[RunStore, TestClient, RunStore, TestClient]]:
    """Two whole Knobs apps on one database, each with its own store (its own pool)."""

    def replica(name: str) -> FastAPI:
        settings = settings_for(fake.base_url, tmp_path / name, database_url=pg_url)
        return create_app(settings)

    with (
        TestClient(replica("a"), follow_redirects=False) as a,
        TestClient(replica("b"), follow_redirects=False) as b,
    ):
        yield services(a).store, a, services(b).store, b


def test_a_run_saved_on_one_replica_is_served_by_the_other(replicas):
    store_a, a, _, b = replicas
    run_id = store_a.save(make_run(prompt="Saved on A, read on B"))
    assert store_a.engine is not replicas[2].engine
    page = b.get(f"/r/{run_id}")
    assert page.status_code == 200 and "Saved on A, read on B" in page.text
    assert b.get(f"/api/runs/{run_id}").json() == a.get(f"/api/runs/{run_id}").json()
    assert b.get(f"/api/runs/{run_id}").json()["prompt"] == "Saved on A, read on B"
    assert b.get(f"/r/{run_id}.csv").status_code == 200
    assert f'href="/r/{run_id}"' in b.get("/runs").text


def test_a_run_deleted_on_one_replica_is_gone_from_the_other(replicas):
    store_a, a, store_b, b = replicas
    kept, gone = store_a.save(make_run(prompt="kept")), store_a.save(make_run(prompt="gone"))
    assert b.delete(f"/api/runs/{gone}").status_code == 204
    assert a.get(f"/api/runs/{gone}").status_code == 404
    assert a.get(f"/r/{gone}").status_code == 404
    history = a.get("/runs").text
    assert f'href="/r/{kept}"' in history and f'href="/r/{gone}"' not in history
    assert b.post(f"/r/{kept}/delete").status_code == 303
    assert store_a.get(kept) is None and store_a.list_runs() == ([], 0)
    assert store_b.list_runs() == ([], 0)


def test_both_replicas_list_one_history_in_the_order_runs_were_saved(replicas):
    store_a, _, store_b, _ = replicas
    ids = [(store_a if i % 2 else store_b).save(make_run(prompt=f"run {i}")) for i in range(6)]
    newest_first = ids[::-1]
    for store in (store_a, store_b):
        listed, total = store.list_runs(1, 10)
        assert total == 6 and [run.id for run in listed] == newest_first


@pytest.mark.parametrize("name", ["DATABASE_URL", "KNOBS_DATABASE_URL"])
def test_the_setting_comes_from_the_environment_and_stays_hidden(name, monkeypatch, tmp_path):
    given = f"postgresql://knobs:{PASSWORD}@db.internal:5432/knobs"
    monkeypatch.setenv(name, given)
    settings = Settings()
    assert store_url(settings.database_url, tmp_path) == given
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)


def test_a_bad_database_url_stops_the_app_without_showing_it(fake: FakeUpstream, tmp_path):
    bad = f"mysql://knobs:{PASSWORD}@db.internal/knobs"
    app = create_app(settings_for(fake.base_url, tmp_path, database_url=bad))
    with pytest.raises(StoreError) as caught, TestClient(app):
        pass
    assert "mysql://knobs:***@db.internal/knobs" in str(caught.value)
    assert PASSWORD not in everything_about(caught.value)


def test_two_knobs_apps_share_saved_runs(fake: FakeUpstream, pg_url: str, tmp_path: Path):
    """Two whole Knobs apps configured with one DATABASE_URL: compare on A, read on B."""
    app_a = create_app(settings_for(fake.base_url, tmp_path / "a", database_url=pg_url))
    app_b = create_app(settings_for(fake.base_url, tmp_path / "b", database_url=pg_url))
    with TestClient(app_a) as a, TestClient(app_b) as b:
        answer = a.post("/api/compare", json={"prompt": "Shared?", "presets": [{"name": "T0"}]})
        assert answer.status_code == 200, answer.text
        run_id = answer.json()["id"]
        assert b.get(f"/api/runs/{run_id}").json()["prompt"] == "Shared?"
        assert f'href="/r/{run_id}"' in b.get("/runs").text
        assert b.delete(f"/api/runs/{run_id}").status_code == 204
        assert a.get(f"/api/runs/{run_id}").status_code == 404
    # Neither app fell back to SQLite in its data dir.
    assert not (tmp_path / "a" / "knobs.db").exists()
    assert not (tmp_path / "b" / "knobs.db").exists()
