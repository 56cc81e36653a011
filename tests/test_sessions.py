"""Sessions end when people sign out: a copy of the cookie is refused afterwards, on every
replica (two whole Knobs on one SQLite file, and on one PostgreSQL); "everywhere" and
`python -m app user signout` end all of a user's. Reserved names cannot be users, and the
sign-in link opened from another site's page cannot lock an office out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.__main__ import main as cli
from app.access.users import UsersFileError, add_user, hash_password
from app.main import create_app
from tests import test_store
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_durability import ROOT

TOKEN = "s3cret-token"
PASSWORD = "alice-password"
url = test_store.url  # an empty database: a SQLite file, or a PostgreSQL schema


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    add_user(path, "alice", PASSWORD)
    return path


@pytest.fixture
def replicas(
    url: str, fake: FakeUpstream, tmp_path: Path, users: Path
) -> Iterator[list[TestClient]]:
    """Two Knobs on one database, each with its own data dir, as two containers would be."""
    clients = []
    for name in ("one", "two"):
        settings = settings_for(
            fake.base_url,
            tmp_path / name,
            database_url=SecretStr(url),
            access_token=SecretStr(TOKEN),
            users_file=users,
        )
        clients.append(TestClient(create_app(settings), follow_redirects=False).__enter__())
    yield clients
    for client in clients:
        client.__exit__(None, None, None)


def signed_in(client: TestClient, **form: str) -> str:
    client.cookies.clear()
    response = client.post("/signin", data=form or {"token": TOKEN})
    assert response.status_code == 303, response.text
    return client.cookies["knobs_session"]


def runs_with(client: TestClient, cookie: str) -> int:
    client.cookies.clear()
    client.cookies.set("knobs_session", cookie)
    return client.get("/runs").status_code


def test_a_copied_cookie_is_refused_after_sign_out_on_every_replica(replicas):
    one, two = replicas
    copy = signed_in(one)
    assert runs_with(two, copy) == 200  # the session works on the other replica
    kept = signed_in(two)  # another browser, the same shared token
    one.cookies.clear()
    one.cookies.set("knobs_session", copy)
    assert one.post("/signout").status_code == 303
    assert runs_with(one, copy) == 401
    assert runs_with(two, copy) == 401
    assert runs_with(one, kept) == 200  # signing out ends that session, not the others


def test_sign_out_everywhere_ends_every_session_of_the_user(replicas):
    one, two = replicas
    laptop = signed_in(one, name="alice", password=PASSWORD)
    phone = signed_in(two, name="alice", password=PASSWORD)
    token = signed_in(two)
    one.cookies.clear()
    one.cookies.set("knobs_session", laptop)
    page = one.get("/").text
    assert 'name="everywhere"' in page
    assert one.post("/signout", data={"everywhere": "1"}).status_code == 303
    assert [runs_with(c, s) for c in (one, two) for s in (laptop, phone)] == [401] * 4
    assert runs_with(one, token) == 200  # someone else's session


def test_an_admin_signs_a_user_out_from_the_command_line(replicas, url: str, tmp_path: Path):
    one, _ = replicas
    cookie = signed_in(one, name="alice", password=PASSWORD)
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "user", "signout", "alice"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Ended 1 session of alice")
    assert runs_with(one, cookie) == 401


@pytest.mark.parametrize("name", ["token", "anonymous", "Token", "ANONYMOUS"])
def test_reserved_names_cannot_be_users(tmp_path: Path, name: str, monkeypatch, capsys):
    path = tmp_path / "users"
    with pytest.raises(UsersFileError, match="cannot be a user name"):
        add_user(path, name, "a-long-password")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a-long-password\n"))
    with pytest.raises(SystemExit, match="Nothing was written.*cannot be a user name"):
        cli(["user", "add", name, "--file", str(path), "--password-stdin"])
    assert not path.exists()
    # A file written by hand that names one stops start-up, saying which line.
    path.write_text(f"{name}:{hash_password('a-long-password')}\n")
    app = create_app(settings_for("http://127.0.0.1:9/v1", tmp_path, users_file=path))
    with pytest.raises(UsersFileError, match="line 1: .*cannot be a user name"), TestClient(app):
        pass


def test_a_proxy_cannot_name_a_kind_of_author(tmp_path: Path, fake: FakeUpstream):
    settings = dict(trusted_user_header="X-Forwarded-User", trusted_proxies="10.0.0.0/24")
    app = create_app(settings_for(fake.base_url, tmp_path, **settings))
    with TestClient(app, client=("10.0.0.7", 4000)) as proxy:
        for name in ("token", "Anonymous"):
            refused = proxy.get("/api/models", headers={"X-Forwarded-User": name})
            assert refused.status_code == 401
            assert "cannot be a user name" in refused.json()["detail"]
        assert proxy.get("/api/models", headers={"X-Forwarded-User": "dana"}).status_code == 200


def test_the_link_from_another_site_neither_signs_in_nor_counts_as_a_failure(
    tmp_path: Path, fake: FakeUpstream
):
    app = create_app(settings_for(fake.base_url, tmp_path, access_token=SecretStr(TOKEN)))
    with TestClient(app, follow_redirects=False) as client:
        image = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}
        for _ in range(12):  # an <img> on another site's page, more times than the limit
            page = client.get("/signin?token=wrong", headers=image)
            assert page.status_code == 200 and "knobs_session" not in client.cookies
        assert client.get("/api/models", headers={"Authorization": f"Bearer {TOKEN}"}).is_success
        # The right link clicked in a chat app only fills in the form: one press signs in.
        page = client.get(f"/signin?token={TOKEN}", headers={"Sec-Fetch-Site": "cross-site"})
        assert page.status_code == 200 and f'value="{TOKEN}"' in page.text
        assert "another site" in page.text and "knobs_session" not in client.cookies
        # Opened directly (typed, pasted, a script), a wrong link counts, as it always did.
        codes = [client.get("/signin?token=wrong").status_code for _ in range(11)]
        assert codes == [401] * 10 + [429]
        direct = client.get(f"/signin?token={TOKEN}", headers={"Sec-Fetch-Site": "none"})
        assert direct.status_code == 429
