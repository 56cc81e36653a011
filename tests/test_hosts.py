"""DNS rebinding cannot reach a Knobs without login: only loopback Host names, and those
KNOBS_HOSTS lists, are served. Real uvicorn, started as `make run` starts it (loopback, no
login) and as the Dockerfile does (sign-in on)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from pydantic import ValidationError

from app.access.hosts import HostNames, host_reason
from app.settings import Settings
from tests.fake_upstream import FakeUpstream
from tests.shipped import make_run_command, serving

RUN = {"prompt": "x", "presets": [{}, {}], "samples": 1}
REBIND = "rebind.attacker.example"
TOKEN = "s3cret-token"


def as_site(name: str, port: str) -> dict[str, str]:
    """What a browser sends from a page on `name` that rebinds to 127.0.0.1."""
    origin = f"http://{name}:{port}"
    return {"Host": f"{name}:{port}", "Origin": origin, "Sec-Fetch-Site": "same-origin"}


def test_a_rebinding_name_is_never_served_without_login(tmp_path: Path, fake: FakeUpstream):
    with serving(tmp_path, fake, make_run_command()) as url:
        port = url.rsplit(":", 1)[1]
        saved = httpx2.post(f"{url}/api/compare", json=RUN, timeout=30)
        assert saved.status_code == 200, saved.text
        run_id = saved.json()["id"]
        attacker = as_site(REBIND, port)
        front = httpx2.get(f"{url}/", headers=attacker)
        assert front.status_code == 400 and "KNOBS_HOSTS" in front.text
        posted = httpx2.post(f"{url}/api/compare", json=RUN, headers=attacker, timeout=30)
        assert posted.status_code == 400 and "KNOBS_HOSTS" in posted.json()["detail"]
        assert httpx2.get(f"{url}/api/runs/{run_id}", headers=attacker).status_code == 400
        assert len(fake.requests) == 2  # the refused comparison reached no endpoint
        for name in ("localhost", "127.0.0.1", "[::1]", "knobs.localhost"):
            assert httpx2.get(f"{url}/api/runs/{run_id}", headers=as_site(name, port)).is_success
        # Health checks carry no data and name whatever address they probe.
        assert httpx2.get(f"{url}/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200


def test_a_name_allowed_behind_a_login_is_served(tmp_path: Path, fake: FakeUpstream):
    env = dict(KNOBS_HOSTS=f"{REBIND}, .corp.example", KNOBS_ACCESS_TOKEN=TOKEN)
    with serving(tmp_path, fake, make_run_command(), **env) as url:
        port = url.rsplit(":", 1)[1]
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        allowed = {**as_site(REBIND, port), **bearer}
        saved = httpx2.post(f"{url}/api/compare", json=RUN, headers=allowed, timeout=30)
        assert saved.status_code == 200, saved.text
        run_id = saved.json()["id"]
        assert httpx2.get(f"{url}/api/runs/{run_id}", headers=allowed).status_code == 200
        assert httpx2.get(f"{url}/", headers=as_site("knobs.corp.example", port)).status_code == 303
        # Set, the setting restricts Hosts with a login too; credentials do not change that.
        other = {**as_site("elsewhere.example", port), **bearer}
        assert httpx2.get(f"{url}/api/runs/{run_id}", headers=other).status_code == 400


def test_with_a_login_and_no_setting_any_host_reaches_sign_in(tmp_path: Path, fake: FakeUpstream):
    with serving(tmp_path, fake, KNOBS_ACCESS_TOKEN=TOKEN) as url:  # as the image runs
        page = httpx2.get(f"{url}/signin", headers={"Host": "knobs.lan:8000"})
        assert page.status_code == 200 and "Sign in" in page.text


@pytest.mark.parametrize(
    ("host", "setting", "login", "served"),
    [
        ("localhost:8000", "", False, True),
        ("LOCALHOST.", "", False, True),
        ("app.localhost", "", False, True),
        ("127.0.0.2:80", "", False, True),
        ("[::1]:8000", "", False, True),
        ("[::ffff:127.0.0.1]", "", False, True),
        (None, "", False, False),
        ("0.0.0.0:8000", "", False, False),
        ("localhost.attacker.example", "", False, False),
        ("127.0.0.1.nip.io", "", False, False),
        ("10.0.0.5:8000", "", False, False),
        ("10.0.0.5:8000", "10.0.0.0/8", False, True),
        ("knobs.corp.example", ".corp.example", False, True),
        ("corp.example", ".corp.example", False, True),
        ("evilcorp.example", ".corp.example", False, False),
        ("anything.example", "*", False, True),
        ("[bad", "", False, False),
        ("anything.example", "", True, True),
        ("anything.example", "knobs.example", True, False),
        ("knobs.example:443", "knobs.example", True, True),
        ("localhost", "knobs.example", True, True),
    ],
)
def test_which_hosts_are_served(host, setting, login, served):
    assert (host_reason(host, HostNames.from_setting(setting), login) is None) is served


@pytest.mark.parametrize("bad", ["http://knobs.example", "knobs example", "10.0.0.0/99", "a/b"])
def test_a_bad_hosts_setting_stops_start_up_naming_the_entry(bad):
    with pytest.raises(ValidationError, match="KNOBS_HOSTS|not a host name|not an IP"):
        Settings(hosts=f"localhost, {bad}")
