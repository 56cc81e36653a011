"""Cross-site form posts and API calls are refused; same-origin pages and scripts go through.

Every request goes to the real app (the `client` fixture: create_app over the fake endpoint),
and whether a comparison ran is read off the fake endpoint: a refused one never reaches it.
"""

from __future__ import annotations

import pytest

from app.engine.presets import Preset
from app.guard.origin import same_host
from tests.conftest import services
from tests.fake_upstream import FakeUpstream
from tests.sample_runs import make_run
from tests.test_pages import form_fields

# TestClient sends `Host: testserver` unless a test says otherwise.
HOST = "testserver"
RUN = form_fields([Preset(name="one")], samples="1")  # one comparison: one upstream request


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, a script, the openai SDK: no browser, no ambient credentials
        {"Sec-Fetch-Site": "same-origin", "Origin": f"http://{HOST}"},
        # The browser's own verdict holds even where a proxy rewrote Host.
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://knobs.example", "Host": "[::1]"},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "same-site", "Origin": f"http://{HOST}"},
        {"Origin": f"http://{HOST}"},  # a browser without Sec-Fetch-Site
        {"Origin": f"https://{HOST}"},  # TLS ended at a proxy that kept the Host header
        {"Origin": "http://127.0.0.1:8000", "Host": "127.0.0.1:8000"},
        {"Origin": "http://[::1]:8000", "Host": "[::1]:8000"},
        {"Origin": "HTTP://TestServer", "Host": "testserver:80"},
    ],
)
def test_same_origin_and_non_browser_posts_go_through(client, fake: FakeUpstream, headers):
    response = client.post("/", data=RUN, headers=headers)
    assert response.status_code == 200, response.text
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        # Another port on the same host is same-site, not same-origin: another local app.
        {"Sec-Fetch-Site": "same-site", "Origin": f"http://{HOST}:3000"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": f"http://{HOST}:8000"},
        {"Origin": "http://localhost:8000", "Host": "127.0.0.1:8000"},
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Origin": f"ftp://{HOST}"},
        {"Origin": f"http://{HOST}:notaport"},
    ],
)
def test_cross_site_posts_are_refused_before_the_route_runs(client, fake: FakeUpstream, headers):
    response = client.post("/", data=RUN, headers=headers)
    assert response.status_code == 403
    assert fake.requests == []
    assert response.headers["content-type"].startswith("text/html")
    assert "Refused" in response.text and "<!doctype html>" in response.text


def test_a_cross_site_delete_leaves_the_run_in_place(client):
    run_id = services(client).store.save(make_run())
    refused = client.delete(f"/api/runs/{run_id}", headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    assert client.get(f"/api/runs/{run_id}").status_code == 200
    form = client.post(f"/r/{run_id}/delete", headers={"Origin": "https://evil.example"})
    assert form.status_code == 403
    assert client.get(f"/api/runs/{run_id}").status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_every_state_changing_method_is_checked(client, method):
    # Refused before routing: no route takes these methods, yet the answer is 403, not 405.
    response = client.request(method, "/", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


def test_reading_is_not_checked(client):
    # A cross-site GET changes nothing; links from other sites must keep working.
    response = client.get("/", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200 and "<!doctype html>" in response.text


def test_api_refusal_is_json_and_names_the_origin(client, fake: FakeUpstream):
    body = {"prompt": "hi", "samples": 1, "presets": [{}]}
    response = client.post("/api/compare", json=body, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and fake.requests == []
    detail = response.json()["detail"]
    assert "https://evil.example" in detail and HOST in detail
    assert "proxy" in detail  # the likeliest cause when the origin is in fact this server


def test_page_refusal_escapes_what_the_client_sent(client):
    origin = "https://<script>alert(1)</script>.example"
    response = client.post("/", data=RUN, headers={"Origin": origin})
    assert response.status_code == 403
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;" in response.text


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://a.example", "a.example", True),
        ("http://a.example:80", "a.example", True),
        ("https://a.example", "a.example:443", True),
        ("http://a.example", "a.example:8080", False),
        ("http://b.example", "a.example", False),
        ("http://a.example", None, False),
        ("http://a.example", "", False),
        ("http://[::1", "[::1]", False),
        ("javascript:alert(1)", "a.example", False),
    ],
)
def test_same_host(origin, host, same):
    assert same_host(origin, host) is same
