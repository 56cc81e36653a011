"""Whether Knobs needs a login is read off where it listens: open on loopback, never open by
accident anywhere else. Started as the image starts it (the Dockerfile's CMD), it logs a
sign-in link and refuses everyone else; with KNOBS_AUTH=none it serves anyone, and warns."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx2
import pytest

from app.access.listening import Listener
from app.access.rules import Access, AccessRules, where
from tests.fake_upstream import FakeUpstream
from tests.shipped import make_run_command, serving

LOOPBACK = [Listener("127.0.0.1", 8000)]
EVERYWHERE = [Listener("0.0.0.0", 8000)]


def test_loopback_needs_no_login_but_only_once_every_socket_is_bound(caplog):
    access = Access(AccessRules())
    access.settle(LOOPBACK, final=False)  # start-up: more sockets may still come
    assert access.required is None
    access.settle(LOOPBACK + [Listener("", 0)], final=True)  # a Unix socket is local too
    assert access.required is False and not access.token_in_force
    assert "Sign in" not in caplog.text


@pytest.mark.parametrize(
    "found", [EVERYWHERE, [Listener("::", 8000)], [Listener("10.1.2.3", 80)], None]
)
def test_anywhere_else_a_token_is_made_and_its_link_logged_once(caplog, found):
    caplog.set_level(logging.INFO)
    access = Access(AccessRules())
    access.settle(found, final=False)
    access.settle(found, final=True)
    assert access.required is True and access.token_in_force
    assert caplog.text.count(f"/signin?token={access.token}") == 1
    assert access.check_token(access.token) is not None
    assert access.check_token(access.token[:-1]) is None


def test_a_way_in_configured_needs_it_even_on_loopback():
    access = Access(AccessRules(token="s3cret"))
    assert access.required is True
    access.settle(LOOPBACK, final=True)
    assert access.required is True and access.token == "s3cret"
    assert Access(AccessRules(mode="required")).required is True
    assert Access(AccessRules(mode="none", token="s3cret")).required is False


def test_the_image_logs_a_sign_in_link_and_refuses_everyone_else(
    tmp_path: Path, fake: FakeUpstream
):
    with serving(tmp_path, fake) as url:
        assert httpx2.get(f"{url}/api/models").status_code == 401
        assert httpx2.get(f"{url}/").headers["location"] == "/signin"
        log = (tmp_path / "knobs.log").read_text()
        link = re.search(r"Sign in at http://localhost:(\d+)(/signin\?token=(\S+))", log)
        assert link is not None, log
        assert link.group(1) == url.rsplit(":", 1)[1]
        with httpx2.Client(base_url=url, follow_redirects=True) as browser:
            signed_in = browser.get(link.group(2))
            assert signed_in.status_code == 200 and signed_in.url.path == "/"
            assert browser.get("/runs").status_code == 200
        bearer = {"Authorization": f"Bearer {link.group(3)}"}
        assert httpx2.get(f"{url}/api/models", headers=bearer).status_code == 200
    log = (tmp_path / "knobs.log").read_text()
    # The token is in the one line that gives it, never in the access log.
    assert log.count(link.group(3)) == 1 and "/signin?token=*** HTTP/1.1" in log


def test_with_auth_none_the_image_serves_anyone_and_warns(tmp_path: Path, fake: FakeUpstream):
    with serving(tmp_path, fake, KNOBS_AUTH="none") as url:
        assert httpx2.get(f"{url}/api/models").status_code == 200
        assert httpx2.get(f"{url}/runs").status_code == 200
    log = (tmp_path / "knobs.log").read_text()
    assert "KNOBS_AUTH=none: anyone who reaches Knobs" in log and "Sign in at" not in log


def test_make_run_on_loopback_needs_no_login(tmp_path: Path, fake: FakeUpstream):
    with serving(tmp_path, fake, make_run_command()) as url:
        assert httpx2.get(f"{url}/runs").status_code == 200
        assert httpx2.get(f"{url}/api/models").status_code == 200
    assert "Sign in at" not in (tmp_path / "knobs.log").read_text()


@pytest.mark.parametrize(
    ("found", "shown"),
    [
        (EVERYWHERE, "localhost:8000"),
        ([Listener("::", 9000)], "localhost:9000"),
        ([Listener("10.1.2.3", 80)], "10.1.2.3:80"),
        ([Listener("fd00::7", 8000)], "[fd00::7]:8000"),
        (None, "localhost:8000"),
    ],
)
def test_the_link_names_an_address_a_browser_can_open(found, shown):
    assert where(found) == shown


def test_with_auth_required_the_link_waits_for_the_port(caplog):
    caplog.set_level(logging.INFO)
    access = Access(AccessRules(mode="required"))
    access.settle([], final=False)  # start-up, before uvicorn has bound its socket
    assert access.required is True and "Sign in at" not in caplog.text
    access.settle(LOOPBACK, final=False)
    assert "Sign in at http://127.0.0.1:8000/signin?token=" in caplog.text
