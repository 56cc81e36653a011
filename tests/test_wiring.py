"""create_app() itself wires every guard in: cross-site refusal, the rate and body limits, and
security headers on every kind of answer, the guards' own refusals included.

Nothing here adds a guard: each test drives the app Knobs serves (the `client` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from app.engine.presets import Preset
from app.main import create_app
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
MAX_BYTES = 1024  # the smallest KNOBS_MAX_BODY_BYTES allowed
PER_MINUTE = 2
PAGE_RUN = {"data": form_fields([Preset(name="one")], samples="1")}
API_RUN = {"json": {"prompt": "hi", "samples": 1, "presets": [{}]}}


@pytest.fixture
def app(fake: FakeUpstream, tmp_path) -> FastAPI:
    # Limits a test can reach with a few requests; everything else as Knobs ships.
    settings = settings_for(
        fake.base_url, tmp_path, max_body_bytes=MAX_BYTES, rate_limit_per_minute=PER_MINUTE
    )
    return create_app(settings)


def assert_security_headers(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert len(response.headers.get_list("content-security-policy")) == 1


@pytest.mark.parametrize(
    "site", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}]
)
@pytest.mark.parametrize(("path", "body"), [("/", PAGE_RUN), ("/api/compare", API_RUN)])
def test_a_cross_site_post_is_refused(client, fake: FakeUpstream, site, path, body):
    response = client.post(path, headers=site, **body)
    assert response.status_code == 403
    assert fake.requests == []
    assert_security_headers(response)


def test_over_the_rate_limit_answers_429_with_retry_after(client, fake: FakeUpstream):
    admitted = [client.post("/api/compare", **API_RUN) for _ in range(PER_MINUTE)]
    assert [response.status_code for response in admitted] == [200] * PER_MINUTE
    for path, body in (("/api/compare", API_RUN), ("/", PAGE_RUN)):
        refused = client.post(path, **body)
        assert refused.status_code == 429, path
        assert refused.headers["Retry-After"] == str(60 // PER_MINUTE)
        assert_security_headers(refused)
    assert len(fake.requests) == PER_MINUTE


@pytest.mark.parametrize(
    ("method", "path", "request_args", "status", "media_type"),
    [
        ("GET", "/", {}, 200, "text/html"),
        ("POST", "/api/compare", API_RUN, 200, "application/json"),
        # An unknown token still answers a stream, one that ends at once.
        ("GET", "/compare/no-such-token/events", {}, 200, "text/event-stream"),
        ("GET", "/static/app.css", {}, 200, "text/css"),
        ("GET", "/docs", {}, 200, "text/html"),
        ("GET", "/no-such-page", {}, 404, "text/html"),
        ("GET", "/api/runs/no-such-run", {}, 404, "application/json"),
        ("POST", "/runs", {}, 405, "application/json"),
        ("POST", "/api/compare", {"content": b"x" * (MAX_BYTES + 1)}, 413, "application/json"),
        ("POST", "/", {"data": {"prompt": "x" * (MAX_BYTES + 1)}}, 413, "text/html"),
        ("POST", "/api/compare", {"json": {"prompt": ""}}, 422, "application/json"),
        ("POST", "/", {"data": {**PAGE_RUN["data"], "samples": "0"}}, 422, "text/html"),
    ],
)
def test_every_kind_of_answer_carries_the_security_headers(
    client, method, path, request_args, status, media_type
):
    response = client.request(method, path, **request_args)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(media_type)
    assert_security_headers(response)
