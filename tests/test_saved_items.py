"""The saved-items router (app/web/saved_items.py) serves runs and sweeps alike: exports, the
question before deleting, deleting, the history mine or everyone's, and `GET /api/…/{id}`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.main import create_app
from app.storage.store import RunStore
from app.storage.sweeps import SweepStore
from app.web.errors import NO_RUN
from app.web.saved_kinds import NO_SWEEP, RUNS, SWEEPS
from tests.conftest import services, settings_for
from tests.fake_upstream import FakeUpstream
from tests.sample_runs import make_run
from tests.test_access import BEARER, sign_in, team, users_file  # noqa: F401 - signed-in teams
from tests.test_store import url  # noqa: F401 - the SQLite and PostgreSQL databases
from tests.test_sweep_store import a_sweep
from tests.test_sweeps import sweep

UNKNOWN = "A" * 22


@dataclass(frozen=True)
class Kind:
    """One saved kind as a visitor sees it."""

    noun: str
    page: str  # where one lives: `{page}/{id}`
    history: str
    api: str
    missing: str
    csv_name: str


KINDS = [
    Kind("run", "/r", "/runs", "/api/runs", NO_RUN, "knobs-{id}.csv"),
    Kind("sweep", "/sweeps", "/sweeps", "/api/sweeps", NO_SWEEP, "knobs-sweep-{id}.csv"),
]


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


def save(client: TestClient, noun: str) -> str:
    """One saved straight into the app's store."""
    kept = services(client)
    return kept.store.save(make_run()) if noun == "run" else kept.sweeps.save(a_sweep())


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.noun)
def test_the_shared_router_serves_each_kind(client: TestClient, kind: Kind):
    saved_id = save(client, kind.noun)
    item = f"{kind.page}/{saved_id}"
    exported = client.get(f"{item}.json")
    assert exported.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"{kind.api}/{saved_id}").json() == exported.json()
    assert exported.json()["id"] == saved_id
    table = client.get(f"{item}.csv")
    assert table.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = f'inline; filename="{kind.csv_name.format(id=saved_id)}"'
    assert table.headers["Content-Disposition"] == disposition
    listed = client.get(kind.history)
    assert f'id="{kind.noun}-{saved_id}"' in listed.text
    assert f'action="{item}/delete"' in listed.text
    asked = client.get(f"{item}/delete")
    assert asked.status_code == 200 and f"Delete this {kind.noun}?" in asked.text
    htmx = client.post(f"{item}/delete", headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and htmx.text == ""  # the row goes
    assert client.get(item).status_code == 404
    assert client.post(f"{item}/delete").status_code == 404


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.noun)
def test_an_unknown_id_is_a_404_in_each_kinds_words(client: TestClient, kind: Kind):
    item = f"{kind.page}/{UNKNOWN}"
    assert client.get(f"{item}.json").json() == {"detail": kind.missing}
    assert client.get(f"{kind.api}/{UNKNOWN}").json() == {"detail": kind.missing}
    for path in (f"{item}.csv", f"{item}/delete"):
        page = client.get(path)
        assert page.status_code == 404 and kind.missing.split(".")[0] in page.text, path


def test_the_kinds_route_names_and_the_api_document(app: FastAPI):
    for kind in (RUNS, SWEEPS):
        item = {kind.param: UNKNOWN}
        assert app.url_path_for(f"show_{kind.noun}", **item) == f"{kind.page}/{UNKNOWN}"
        assert app.url_path_for(f"{kind.noun}_csv", **item) == f"{kind.page}/{UNKNOWN}.csv"
        assert app.url_path_for(f"list_{kind.plural}") == f"/{kind.plural}"
        assert app.url_path_for(f"get_{kind.noun}", **item) == f"/api/{kind.plural}/{UNKNOWN}"
    paths = app.openapi()["paths"]
    got = paths["/api/sweeps/{sweep_id}"]["get"]
    assert got["tags"] == ["api"] and set(got["responses"]) >= {"200", "404"}
    assert got["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SavedSweep"
    }
    assert "delete" not in paths["/api/sweeps/{sweep_id}"]  # runs only, for now
    assert set(paths["/api/runs/{run_id}"]) == {"get", "delete"}


def test_get_api_sweeps_answers_the_saved_sweep(client: TestClient, fake: FakeUpstream):
    answer = sweep(client, samples=2).json()
    got = client.get(f"/api/sweeps/{answer['id']}")
    assert got.status_code == 200
    body = got.json()
    assert body == client.get(f"/sweeps/{answer['id']}.json").json()
    assert body["id"] == answer["id"] and body["vary"] == answer["vary"]
    assert [p["values"] for p in body["points"]] == [p["values"] for p in answer["points"]]
    assert body["points"][0]["stats"] == answer["points"][0]["stats"]
    missing = client.get(f"/api/sweeps/{UNKNOWN}")
    assert missing.status_code == 404 and missing.json() == {"detail": NO_SWEEP}


def test_get_api_sweeps_needs_the_token_when_one_is_set(fake: FakeUpstream, tmp_path):
    app = create_app(settings_for(fake.base_url, tmp_path, access_token=SecretStr("s3cret")))
    with TestClient(app, follow_redirects=False) as secured:
        body = {"prompt": "Hi", "samples": 1, "vary": [{"knob": "temperature", "values": [0]}]}
        sweep_id = secured.post("/api/sweep", json=body, headers=BEARER).json()["id"]
        refused = secured.get(f"/api/sweeps/{sweep_id}")
        assert refused.status_code == 401 and "sweep" not in refused.text.lower()
        assert secured.get(f"/api/sweeps/{UNKNOWN}").status_code == 401
        assert secured.get(f"/api/sweeps/{sweep_id}", headers=BEARER).json()["author"] == "token"


def test_named_users_see_their_own_sweeps_or_everyones(team: TestClient):  # noqa: F811
    sign_in(team, "bob")
    bobs = sweep(team, samples=1).json()["id"]
    sign_in(team, "alice")
    alices = sweep(team, samples=1).json()["id"]
    mine = team.get("/sweeps").text
    assert f"sweep-{alices}" in mine and f"sweep-{bobs}" not in mine
    assert "1 saved sweep of yours" in mine and 'href="/sweeps?show=all"' in mine
    everyone = team.get("/sweeps?show=all").text
    assert f"sweep-{alices}" in everyone and f"sweep-{bobs}" in everyone
    assert ">bob</td>" in everyone and ">alice</td>" in everyone
    assert f'action="/sweeps/{bobs}/delete"' not in everyone  # no Delete on bob's sweep
    assert f'action="/sweeps/{alices}/delete"' in everyone
    assert team.get("/sweeps?show=bogus").text.count('class="author"') == 0  # mine
    sign_in(team, "bob")
    assert f"sweep-{alices}" not in team.get("/sweeps").text


def test_without_sign_in_every_sweep_is_listed(client: TestClient):
    saved = [save(client, "sweep") for _ in range(2)]
    listed = client.get("/sweeps").text
    assert all(f"sweep-{s}" in listed for s in saved) and "of yours" not in listed
    assert "Whose sweeps" not in listed  # no switch: there is no one to tell apart


def test_sweeps_are_listed_by_author_in_the_store(url: str):  # noqa: F811
    runs = RunStore(url)
    try:
        sweeps = SweepStore(runs)
        alice = [sweeps.save(a_sweep().model_copy(update={"author": "alice"})) for _ in range(3)]
        bob = sweeps.save(a_sweep().model_copy(update={"author": "bob"}))
        listed, total = sweeps.list_sweeps(1, 2, "alice")
        assert total == 3 and [s.id for s in listed] == alice[:0:-1]
        assert [s.id for s in sweeps.list_sweeps(1, 10, "bob")[0]] == [bob]
        assert sweeps.list_sweeps(1, 10)[1] == 4 and sweeps.list_sweeps(1, 10, "carol")[1] == 0
        indexes = {i["name"] for i in sa.inspect(runs.engine).get_indexes("sweeps")}
        assert "ix_sweeps_author" in indexes
    finally:
        runs.close()
