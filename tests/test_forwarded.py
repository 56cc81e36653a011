"""Knobs decides who the client is, not uvicorn: started exactly as the Dockerfile starts it
(uvicorn's proxy headers on, trusting 127.0.0.1), a visitor on loopback who sends
X-Forwarded-For is still the loopback peer: no other SSO name, no fresh rate-limit or
throttle bucket, no /metrics. A peer listed in KNOBS_TRUSTED_PROXIES is believed, and the
client is the right-most hop that is not itself a trusted proxy."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from starlette.datastructures import Headers

from app.access.clients import client_of, forwarded_proto
from app.access.rules import networks
from tests.fake_upstream import FakeUpstream
from tests.shipped import serving

TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
RUN = {"prompt": "Say something.", "presets": [{"temperature": 0}], "samples": 1}


def compare(url: str, forwarded_for: str) -> int:
    headers = {**BEARER, "X-Forwarded-For": forwarded_for}
    return httpx2.post(f"{url}/api/compare", json=RUN, headers=headers, timeout=30).status_code


def test_a_spoofed_address_from_loopback_is_nobody_else(tmp_path: Path, fake: FakeUpstream):
    with serving(
        tmp_path,
        fake,
        KNOBS_TRUSTED_USER_HEADER="X-Forwarded-User",
        KNOBS_TRUSTED_PROXIES="10.9.9.9",
        KNOBS_ADMINS="boss",
        KNOBS_ACCESS_TOKEN=TOKEN,
        KNOBS_RATE_LIMIT_PER_MINUTE="2",
    ) as url:
        boss = {"X-Forwarded-User": "boss", "X-Forwarded-For": "10.9.9.9"}
        assert httpx2.get(f"{url}/api/models", headers=boss).status_code == 401
        # /metrics is not "loopback only" any more: a loopback peer may be a visitor.
        assert httpx2.get(f"{url}/metrics").status_code == 401
        metrics = httpx2.get(f"{url}/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert metrics.status_code == 401
        # One allowance for the one real peer, however many addresses it invents.
        codes = [compare(url, f"203.0.113.{n}") for n in range(3)]
        assert codes == [200, 200, 429]
        # Ten failed sign-ins, each from an invented address, then the right token from
        # another: the throttle counted them all against the peer.
        for n in range(10):
            wrong = {"Authorization": "Bearer guess", "X-Forwarded-For": f"198.51.100.{n}"}
            assert httpx2.get(f"{url}/api/models", headers=wrong).status_code == 401
        fresh = {**BEARER, "X-Forwarded-For": "192.0.2.77"}
        assert httpx2.get(f"{url}/api/models", headers=fresh).status_code == 429
        form = {"token": TOKEN}
        signin = httpx2.post(f"{url}/signin", data=form, headers={"X-Forwarded-For": "192.0.2.8"})
        assert signin.status_code == 429


def test_from_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client(
    tmp_path: Path, fake: FakeUpstream
):
    with serving(
        tmp_path,
        fake,
        KNOBS_TRUSTED_USER_HEADER="X-Forwarded-User",
        KNOBS_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8",
        KNOBS_ADMINS="boss",
        KNOBS_ACCESS_TOKEN=TOKEN,
        KNOBS_RATE_LIMIT_PER_MINUTE="1",
    ) as url:
        # The peer (127.0.0.1) is a trusted proxy: its SSO header counts.
        boss = {"X-Forwarded-User": "boss", "X-Forwarded-For": "203.0.113.9"}
        assert httpx2.get(f"{url}/api/models", headers=boss).status_code == 200
        # What the client wrote on the left is ignored; trusted hops on the right skipped.
        assert compare(url, "6.6.6.6, 203.0.113.5") == 200
        assert compare(url, "7.7.7.7, 203.0.113.5, 10.1.2.3") == 429  # the same client
        assert compare(url, "203.0.113.6") == 200  # another client, its own allowance
        # Cookies are Secure when the trusted proxy says the visitor used https.
        https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        signin = httpx2.post(f"{url}/signin", data={"token": TOKEN}, headers=https)
        assert signin.status_code == 303 and "; Secure" in signin.headers["set-cookie"]


def test_without_a_trusted_proxy_forwarded_https_does_not_make_cookies_secure(
    tmp_path: Path, fake: FakeUpstream
):
    with serving(tmp_path, fake, KNOBS_ACCESS_TOKEN=TOKEN) as url:
        https = {"X-Forwarded-Proto": "https"}
        signin = httpx2.post(f"{url}/signin", data={"token": TOKEN}, headers=https)
        assert signin.status_code == 303 and "Secure" not in signin.headers["set-cookie"]


PROXIES = networks("10.0.0.0/8, 192.168.1.1")


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("203.0.113.1", {"X-Forwarded-For": "1.2.3.4"}, "203.0.113.1"),  # not a proxy
        ("10.0.0.1", {}, "10.0.0.1"),  # a proxy that forwarded no one
        ("10.0.0.1", {"X-Forwarded-For": "1.2.3.4"}, "1.2.3.4"),
        ("10.0.0.1", {"X-Forwarded-For": "9.9.9.9, 1.2.3.4, 192.168.1.1"}, "1.2.3.4"),
        ("10.0.0.1", {"X-Forwarded-For": "10.0.0.2, 10.0.0.3"}, "10.0.0.2"),  # all trusted
        ("10.0.0.1", {"X-Forwarded-For": "1.2.3.4, unknown"}, "10.0.0.1"),  # a broken hop
        ("10.0.0.1", {"X-Forwarded-For": "[2001:db8::1]:443"}, "2001:db8::1"),
        ("10.0.0.1", {"X-Forwarded-For": "1.2.3.4:5678"}, "1.2.3.4"),
        ("10.0.0.1", {"Forwarded": 'for=1.2.3.4, for="[2001:db8::2]"'}, "2001:db8::2"),
        ("10.0.0.1", {"Forwarded": "for=1.2.3.4;proto=https, by=10.0.0.1"}, "10.0.0.1"),
        ("::ffff:10.0.0.1", {"X-Forwarded-For": "1.2.3.4"}, "1.2.3.4"),  # IPv4-mapped
    ],
)
def test_the_client_is_the_right_most_untrusted_hop(peer, headers, client):
    assert client_of(peer, Headers(headers), PROXIES) == client


@pytest.mark.parametrize(
    ("headers", "proto"),
    [
        ({"X-Forwarded-Proto": "https"}, "https"),
        ({"X-Forwarded-Proto": "javascript"}, None),
        ({"X-Forwarded-Proto": "http, https"}, "https"),  # the nearest proxy's word
        ({"Forwarded": "for=1.2.3.4;proto=https"}, "https"),
        ({}, None),
    ],
)
def test_the_scheme_is_the_nearest_proxys_word(headers, proto):
    assert forwarded_proto(Headers(headers)) == proto
