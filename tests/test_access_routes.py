"""Every route in create_app()'s table refuses a caller without credentials, but for the few
named below. A route added tomorrow fails here until it is guarded, or named and justified."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.routing import Mount

from app.main import create_app
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream

# The doors that answer anyone, each for a reason.
OPEN_TO_ALL = {
    "/healthz": "liveness: health checks carry no credentials",
    "/readyz": "readiness: the image's HEALTHCHECK and load balancers",
    "/signin": "the way in",
    "/signout": "the way out, even with a session that has ended",
    "/static": "the CSS, htmx and icons the sign-in page needs; no data",
}
# Open to a scrape token of their own (KNOBS_METRICS_TOKEN), and to nothing else.
SCRAPED = {"/metrics"}
# Made-up values for path parameters, shaped as the routes expect them.
PARAMS = {
    "run_id": "A" * 22,
    "sweep_id": "A" * 22,
    "eval_id": "A" * 22,
    "review_id": "A" * 22,
    "case": "0",
    "token": "t" * 43,
    "index": "0",
    "max_tokens": "64",
}


@pytest.fixture
def client(fake: FakeUpstream, tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(
        fake.base_url,
        tmp_path,
        access_token=SecretStr("s3cret"),
        metrics_token=SecretStr("scrape"),
    )
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


def doors(client: TestClient) -> Iterator[tuple[str, str, str]]:
    """(route path, method, a URL to call it with) for every route the app has, those of
    included routers too."""
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route.original_route, Mount):
            yield str(route.path), "GET", f"{route.path}/app.css"
        elif route.path is not None:
            url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMS[m.group(1)], route.path)
            for method in sorted(route.methods or {"GET"}):
                yield route.path, method, url
        else:
            raise AssertionError(f"a route this test cannot call: {route!r}")


def refused(response) -> bool:
    return response.status_code == 401 or (
        response.status_code == 303 and response.headers["location"].startswith("/signin")
    )


def test_every_route_refuses_without_credentials_unless_named(client: TestClient):
    answered = []
    for path, method, url in doors(client):
        if method == "HEAD":
            continue  # answered as GET
        response = client.request(method, url, headers={"Accept": "text/html"})
        if not refused(response) and path not in OPEN_TO_ALL:
            answered.append(f"{method} {path} -> {response.status_code}")
    assert answered == [], "routes that answer without credentials: " + ", ".join(answered)


def test_the_named_doors_are_open_and_no_wider(client: TestClient):
    paths = {path for path, _, _ in doors(client)}
    assert set(OPEN_TO_ALL) | SCRAPED <= paths  # the list names no route gone by
    for path, method, url in doors(client):
        if path in OPEN_TO_ALL and method == "GET":
            assert not refused(client.get(url)), path
    scrape = {"Authorization": "Bearer scrape"}
    for path, method, url in doors(client):
        if method == "HEAD" or path in OPEN_TO_ALL:
            continue
        response = client.request(method, url, headers={"Accept": "text/html", **scrape})
        # Elsewhere it is a wrong access token: refused, and soon throttled (429).
        assert (refused(response) or response.status_code == 429) == (path not in SCRAPED), path
    with TestClient(client.app, client=("127.0.0.1", 9)) as local:
        assert local.get("/metrics").status_code == 401  # loopback may be a forwarded visitor
