"""Team access against the real app: the token, named users, the SSO header, sessions, the
throttle, and who may delete what. The suite's other tests run open, as on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.access.door import safe_next
from app.access.throttle import SigninThrottle
from app.access.users import add_user
from app.guard.limits import MemoryBuckets
from app.main import create_app
from app.storage.store import RunStore
from tests.conftest import services, settings_for
from tests.fake_upstream import FakeUpstream

TOKEN = "s3cret"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
RUN = {"prompt": "Say something.", "presets": [{"temperature": 0}]}
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "root": "root-password"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def serve(tmp_path: Path, fake: FakeUpstream, **settings: object) -> TestClient:
    app = create_app(settings_for(fake.base_url, tmp_path, **settings))
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def secured(tmp_path: Path, fake: FakeUpstream) -> Iterator[TestClient]:
    with serve(tmp_path, fake, access_token=SecretStr(TOKEN)) as client:
        yield client


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    for name, password in PASSWORDS.items():
        add_user(path, name, password)
    return path


@pytest.fixture
def team(tmp_path: Path, fake: FakeUpstream, users_file: Path) -> Iterator[TestClient]:
    with serve(tmp_path, fake, users_file=users_file, admins="root") as client:
        yield client


def sign_in(client: TestClient, name: str) -> None:
    data = {"name": name, "password": PASSWORDS[name], "next": "/"}
    response = client.post("/signin", data=data)
    assert response.status_code == 303, response.text


def saved_run(client: TestClient, headers: dict[str, str] | None = None) -> str:
    response = client.post("/api/compare", json=RUN, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_with_a_token_every_door_refuses_without_it(secured: TestClient):
    front = secured.get("/")
    assert front.status_code == 303 and front.headers["location"] == "/signin"
    assert secured.post("/api/compare", json=RUN).status_code == 401
    run_id = saved_run(secured, BEARER)
    for path in (
        "/runs",
        f"/r/{run_id}",
        f"/r/{run_id}.json",
        f"/api/runs/{run_id}",
        "/compare/some-token/events",
        "/openapi.json",
        "/docs",
    ):
        refused = secured.get(path)
        assert refused.status_code == 401, path
        assert "Authorization: Bearer" in refused.json()["detail"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert secured.get(f"/api/runs/{run_id}", headers=BEARER).json()["author"] == "token"
    # A person at a browser is sent to sign in, and comes back to the very page afterwards.
    page = secured.get(f"/r/{run_id}", headers=BROWSER)
    assert page.status_code == 303 and page.headers["location"] == f"/signin?next=%2Fr%2F{run_id}"


def test_health_checks_stay_open_and_metrics_need_the_token_even_from_loopback(
    tmp_path: Path, fake: FakeUpstream
):
    scrape = {"Authorization": "Bearer scrape-only"}
    with serve(
        tmp_path, fake, access_token=SecretStr(TOKEN), metrics_token=SecretStr("scrape-only")
    ) as secured:
        assert secured.get("/healthz").status_code == 200
        assert secured.get("/readyz").status_code == 200
        assert secured.get("/static/app.css").status_code == 200
        assert secured.get("/metrics").status_code == 401
        assert secured.get("/metrics", headers=BEARER).status_code == 200
        assert secured.get("/metrics", headers=scrape).status_code == 200
        assert secured.get("/api/models", headers=scrape).status_code == 401  # /metrics alone
        # A loopback peer may be a visitor forwarded by rootless podman or a same-host proxy.
        with TestClient(secured.app, client=("127.0.0.1", 5000)) as local:
            assert local.get("/metrics").status_code == 401


def test_a_wrong_token_is_throttled_and_a_right_one_works_after_the_window(secured: TestClient):
    clock = Clock()
    throttle = SigninThrottle(MemoryBuckets(clock))
    services(secured).access.throttle = throttle
    wrong = {"Authorization": "Bearer guess"}
    codes = [secured.get("/api/models", headers=wrong).status_code for _ in range(20)]
    assert codes == [401] * 10 + [429] * 10
    throttled = secured.get("/api/models", headers=BEARER)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    form = secured.post("/signin", data={"token": TOKEN})
    assert form.status_code == 429 and "Too many failed sign-ins" in form.text
    clock.now += 61
    assert secured.get("/api/models", headers=BEARER).status_code == 200
    assert secured.post("/signin", data={"token": TOKEN}).status_code == 303


def test_signing_in_with_the_token_sets_a_safe_cookie_and_signing_out_ends_it(
    secured: TestClient,
):
    wrong = secured.post("/signin", data={"token": "nope"})
    assert wrong.status_code == 401 and "not right" in wrong.text
    link = "/?prompt=Name+a+colour.&p=Cold;temperature=0&v=1"
    response = secured.post("/signin", data={"token": TOKEN, "next": link})
    assert response.status_code == 303 and response.headers["location"] == link
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    restored = secured.get(link)
    assert restored.status_code == 200 and "Name a colour." in restored.text
    assert "Sign out" in restored.text
    assert secured.post("/signout").status_code == 303
    assert secured.get("/").status_code == 303


def test_the_logged_link_signs_in_on_get_and_cookies_are_secure_over_https(
    tmp_path: Path, fake: FakeUpstream
):
    with serve(tmp_path, fake, access_token=SecretStr(TOKEN), session_days=1) as client:
        client.base_url = client.base_url.copy_with(scheme="https")
        response = client.get(f"/signin?token={TOKEN}&next=/runs")
        assert response.status_code == 303 and response.headers["location"] == "/runs"
        assert "; Secure" in response.headers["set-cookie"]
        assert "Max-Age=86400" in response.headers["set-cookie"]


def test_a_forged_or_stale_cookie_is_refused(tmp_path: Path, fake: FakeUpstream):
    with serve(tmp_path, fake, access_token=SecretStr(TOKEN)) as client:
        client.post("/signin", data={"token": TOKEN})
        value = client.cookies["knobs_session"]
        assert client.get("/runs").status_code == 200
        forged = value.replace(value[3], "A" if value[3] != "A" else "B", 1)  # another name
        client.cookies.clear()
        client.cookies.set("knobs_session", forged)
        assert client.get("/runs").status_code == 401
    # The same database (so the same key) under a new token: the old session has ended.
    with serve(tmp_path, fake, access_token=SecretStr("another")) as client:
        client.cookies.set("knobs_session", value)
        assert client.get("/runs").status_code == 401
    with serve(tmp_path, fake, access_token=SecretStr(TOKEN)) as client:  # kept by a restart
        client.cookies.set("knobs_session", value)
        assert client.get("/runs").status_code == 200


def test_named_users_see_their_own_runs_and_delete_only_those(team: TestClient):
    wrong = team.post("/signin", data={"name": "alice", "password": "guess"})
    assert wrong.status_code == 401 and "do not match" in wrong.text
    assert team.post("/signin", data={"name": "mallory", "password": "x"}).status_code == 401
    sign_in(team, "bob")
    bobs = saved_run(team)
    sign_in(team, "alice")
    alices = saved_run(team)
    mine = team.get("/runs").text
    assert f"run-{alices}" in mine and f"run-{bobs}" not in mine and "1 saved run of yours" in mine
    everyone = team.get("/runs?show=all").text
    assert f"run-{alices}" in everyone and f"run-{bobs}" in everyone and ">bob</td>" in everyone
    assert f'action="/r/{bobs}/delete"' not in everyone  # no Delete button on bob's run
    assert team.get(f"/r/{bobs}").status_code == 200  # permalinks are for teammates
    assert team.post(f"/r/{bobs}/delete").status_code == 403
    assert team.get(f"/r/{bobs}/delete").status_code == 403
    refused = team.delete(f"/api/runs/{bobs}")
    assert refused.status_code == 403 and "Only the person who ran" in refused.json()["detail"]
    assert team.delete(f"/api/runs/{alices}").status_code == 204
    sign_in(team, "root")  # an admin deletes anyone's
    assert team.post(f"/r/{bobs}/delete").status_code == 303
    store: RunStore = services(team).store
    assert store.get(bobs) is None


def test_a_user_added_while_running_can_sign_in(team: TestClient, users_file: Path):
    add_user(users_file, "carol", "carol-password")
    response = team.post("/signin", data={"name": "carol", "password": "carol-password"})
    assert response.status_code == 303


def test_the_sso_header_counts_only_from_the_trusted_proxy(tmp_path: Path, fake: FakeUpstream):
    settings = dict(trusted_user_header="X-Forwarded-User", trusted_proxies="10.0.0.0/24")
    header = {"X-Forwarded-User": "dana@example.com"}
    with serve(tmp_path, fake, **settings) as direct:
        assert direct.get("/runs", headers=header).status_code == 401
        with TestClient(direct.app, client=("10.0.0.7", 4000)) as proxy:
            assert proxy.get("/runs").status_code == 401  # the proxy, but no user named
            run_id = saved_run(proxy, header)
            assert proxy.get(f"/api/runs/{run_id}", headers=header).json()["author"] == (
                "dana@example.com"
            )


def test_signin_is_refused_from_another_site(secured: TestClient):
    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    assert secured.post("/signin", data={"token": TOKEN}, headers=cross).status_code == 403


def test_htmx_is_sent_to_sign_in_from_the_page_it_was_on(secured: TestClient):
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/?prompt=hi"}
    response = secured.post("/", data={"prompt": "hi"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/signin?next=%2F%3Fprompt%3Dhi"


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/r/abc?x=1", True),
        ("/?prompt=a&p=b", True),
        ("//evil.example/", False),
        ("/\\evil.example", False),
        ("https://evil.example/", False),
        ("evil.example", False),
        ("/ok\r\nSet-Cookie: x", False),
        ("", False),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(target: str, kept: bool):
    assert safe_next(target) == (target if kept else "/")


def test_with_auth_none_anyone_gets_in(tmp_path: Path, fake: FakeUpstream, caplog):
    with serve(tmp_path, fake, auth="none", access_token=SecretStr(TOKEN)) as client:
        assert client.get("/runs").status_code == 200
    assert "KNOBS_AUTH=none" in caplog.text
