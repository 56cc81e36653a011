"""Database outages lose nothing a person paid for: the answers still come back, marked not
saved; what needs the database answers 503 with Retry-After; /readyz says so; and once the
database is back the next comparison is saved. All on the real app against real faults: a
private PostgreSQL stopped (never the shared one), or SQLite's directory made immutable."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.engine.presets import Preset
from app.guard.server_errors import MESSAGE as SERVER_ERROR
from app.main import create_app
from app.storage.outages import is_outage
from app.storage.store import RunStore, default_url
from app.web.comparisons import NOT_SAVED
from app.web.errors import STORE_DOWN
from tests import postgres
from tests.conftest import settings_for
from tests.fake_upstream import DEFAULT_TEXT, FakeUpstream
from tests.outages import PrivatePostgres, read_only
from tests.test_pages import form_fields, stream_token
from tests.test_wiring import SECURITY_HEADERS

Outage = Callable[[], AbstractContextManager[None]]
HX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(params=["postgresql", "sqlite"])
def outage(
    request: pytest.FixtureRequest, fake: FakeUpstream, tmp_path: Path
) -> Iterator[tuple[TestClient, Outage]]:
    """Knobs on either database, and how to take that database away for a block."""
    if request.param == "sqlite":
        app = create_app(settings_for(fake.base_url, tmp_path))
        with TestClient(app) as client:
            yield client, lambda: read_only(tmp_path)
        return
    cluster: PrivatePostgres = request.getfixturevalue("private_pg")
    yield request.getfixturevalue("pg_client"), cluster.down


@pytest.fixture
def pg_client(
    private_pg: PrivatePostgres, fake: FakeUpstream, tmp_path: Path
) -> Iterator[TestClient]:
    with postgres.fresh_schema(private_pg.url) as url:
        app = create_app(settings_for(fake.base_url, tmp_path, database_url=url))
        with TestClient(app) as client:
            yield client


def compare(client: TestClient) -> dict:
    response = client.post("/api/compare", json={"prompt": "Hi.", "presets": [{}], "samples": 2})
    assert response.status_code == 200, response.text
    return response.json()


def has_security_headers(response) -> bool:
    return all(response.headers.get(name) == value for name, value in SECURITY_HEADERS.items())


def test_answers_reach_the_person_marked_not_saved_and_the_next_run_is_saved(outage):
    client, database_down = outage
    with database_down():
        answered = compare(client)
        assert (answered["id"], answered["url"], answered["not_saved"]) == (None, None, NOT_SAVED)
        assert [s["text"] for s in answered["columns"][0]["samples"]] == [DEFAULT_TEXT] * 2

        page = client.post("/", data=form_fields([Preset()]))  # without JavaScript
        assert page.status_code == 200
        assert DEFAULT_TEXT in page.text and NOT_SAVED in page.text
        assert 'class="permalink"' not in page.text

        # The live view waits in the database; without it the page runs to the end instead.
        whole = client.post("/", data=form_fields([Preset()]), headers=HX)
        assert whole.status_code == 200 and "sse-connect" not in whole.text
        assert DEFAULT_TEXT in whole.text and NOT_SAVED in whole.text

    saved = compare(client)
    assert saved["id"] and saved["not_saved"] is None
    assert client.get(f"/api/runs/{saved['id']}").status_code == 200
    page = client.post("/", data=form_fields([Preset()]))
    assert 'class="permalink"' in page.text and NOT_SAVED not in page.text


def test_a_live_view_whose_database_goes_mid_stream_shows_its_answers_not_saved(
    outage, fake: FakeUpstream
):
    client, database_down = outage
    fake.behave(chunk_delay=0.2)  # about two seconds of answer: time to take the database
    token = stream_token(client.post("/", data=form_fields([Preset()]), headers=HX).text)
    with client.stream("GET", f"/compare/{token}/events") as events:
        lines = events.iter_lines()
        frames = [next(lines)]  # claimed and streaming
        with database_down():
            frames += list(lines)
    text = "\n".join(frames)
    assert "event: c-0" in text  # the finished column, answers and all
    done = text[text.index("event: done") :]
    assert NOT_SAVED in done and 'class="permalink"' not in done


def test_readyz_says_when_the_database_is_out_of_reach(outage):
    client, database_down = outage
    assert client.get("/readyz").json() == {"status": "ready"}
    with database_down():
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.headers["retry-after"] == "30"
        assert ready.json()["status"] == "unavailable"
        assert client.get("/healthz").status_code == 200  # alive: do not restart it for this
    assert client.get("/readyz").status_code == 200


PAGES = ["/runs", "/r/{id}", "/r/{id}.csv", "/r/{id}.md", "/r/{id}/delete"]


def test_pages_that_need_postgresql_answer_503_with_retry_after(pg_client, private_pg):
    run_id = compare(pg_client)["id"]
    with private_pg.down():
        answers = [pg_client.get(path.format(id=run_id)) for path in PAGES]
        answers += [pg_client.post(f"/r/{run_id}/delete", headers=headers) for headers in ({}, HX)]
        for response in answers:
            assert response.status_code == 503, response.url
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["retry-after"] == "30"
            assert has_security_headers(response)
            assert STORE_DOWN in response.text and "Saved runs are unavailable" in response.text

        answers = [
            pg_client.get(f"/api/runs/{run_id}"),
            pg_client.delete(f"/api/runs/{run_id}"),
            pg_client.get(f"/r/{run_id}.json"),
        ]
        for response in answers:
            assert response.status_code == 503, response.url
            assert response.json() == {"detail": STORE_DOWN}
            assert response.headers["retry-after"] == "30"
            assert has_security_headers(response)

    assert run_id in pg_client.get("/runs").text
    assert pg_client.delete(f"/api/runs/{run_id}").status_code == 204


def test_a_read_only_sqlite_still_serves_saved_runs_but_cannot_delete(client, tmp_path):
    run_id = compare(client)["id"]
    with read_only(tmp_path):
        assert run_id in client.get("/runs").text
        assert client.get(f"/r/{run_id}").status_code == 200
        page = client.post(f"/r/{run_id}/delete")
        assert page.status_code == 503 and STORE_DOWN in page.text
        api = client.delete(f"/api/runs/{run_id}")
        assert api.status_code == 503 and api.headers["retry-after"] == "30"
    assert client.delete(f"/api/runs/{run_id}").status_code == 204


def test_a_live_view_that_cannot_be_held_runs_to_the_end_instead(
    pg_client, private_pg, monkeypatch
):
    # Live views are kept in the database so that any replica can stream them: with it down,
    # one process's memory would not do.
    with private_pg.down():
        page = pg_client.post("/", data=form_fields([Preset(), Preset(name="B")]), headers=HX)
        assert page.status_code == 200
        assert "sse-connect" not in page.text  # the whole results, as without JavaScript
        assert page.text.count(DEFAULT_TEXT) >= 2 and NOT_SAVED in page.text

        column = pg_client.post("/rerun/1/64", data=form_fields([Preset(), Preset()]), headers=HX)
        assert column.status_code == 200
        assert 'id="col-1"' in column.text and DEFAULT_TEXT in column.text
        status = re.search(
            r'<div id="status"[^>]*hx-swap-oob="true"[^>]*>.*?</div>', column.text, re.S
        )
        assert status and NOT_SAVED in status.group(0)


def test_an_unexpected_database_error_is_a_logged_500_with_security_headers(
    client, tmp_path, caplog
):
    run_id = compare(client)["id"]
    # A real fault no handler expects: the table is gone (a bug, not an outage).
    with closing(sqlite3.connect(tmp_path / "knobs.db")) as db:
        db.execute("DROP TABLE runs")

    caplog.set_level(logging.ERROR, logger="knobs.errors")
    page = client.get("/runs")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert SERVER_ERROR in page.text and 'href="/"' in page.text
    assert has_security_headers(page)
    [logged] = [r for r in caplog.records if r.name == "knobs.errors"]
    assert logged.getMessage() == "unhandled error in GET /runs" and logged.exc_info

    api = client.get(f"/api/runs/{run_id}")
    assert api.status_code == 500 and api.json() == {"detail": SERVER_ERROR}
    assert has_security_headers(api)

    answered = compare(client)  # saving fails too, and the answers still come back
    assert answered["not_saved"] == NOT_SAVED and answered["columns"][0]["samples"]


def error_of(engine: sa.Engine, sql: str) -> sa.exc.DBAPIError:
    with pytest.raises(sa.exc.DBAPIError) as raised, engine.begin() as conn:
        conn.exec_driver_sql(sql)
    return raised.value


def test_only_errors_that_say_the_database_is_out_of_reach_are_outages(tmp_path):
    store = RunStore(default_url(tmp_path))
    read_only_file = sa.create_engine(f"sqlite:///file:{tmp_path / 'knobs.db'}?mode=ro&uri=true")
    nowhere = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'knobs.db'}")
    try:
        assert is_outage(
            error_of(read_only_file, "DELETE FROM runs")
        )  # attempt to write a readonly…
        assert is_outage(error_of(nowhere, "SELECT 1"))  # unable to open database file
        assert not is_outage(error_of(store.engine, "SELECT * FROM nothing"))  # no such table
        assert not is_outage(error_of(store.engine, "SELEC 1"))  # a syntax error
    finally:
        store.close()
        read_only_file.dispose()
        nowhere.dispose()
