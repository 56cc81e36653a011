"""A preset's own endpoint: off by default, never internal, the user's key and never ours."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.network.http_client import SENT_HEADERS
from tests.conftest import CANARY_KEY, settings_for
from tests.fake_upstream import FakeUpstream

USER_KEY = "user-own-key-1234"


def compare(client: TestClient, base_url: str):
    preset = {"name": "mine", "base_url": base_url, "api_key": USER_KEY, "model": "fake-model"}
    return client.post("/api/compare", json={"prompt": "hi", "samples": 1, "presets": [preset]})


def test_off_by_default(client, fake: FakeUpstream):
    response = compare(client, fake.base_url)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["field"] == "presets[0].base_url"
    assert "KNOBS_ALLOW_CUSTOM_ENDPOINTS" in detail["msg"]
    assert fake.requests == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/v1", "http://2130706433/v1", "http://[::ffff:a9fe:a9fe]/", "file:///etc"],
)
def test_internal_addresses_are_refused_before_any_request(fake: FakeUpstream, tmp_path, url):
    app = create_app(settings_for(fake.base_url, tmp_path, allow_custom_endpoints=True))
    with TestClient(app) as client:
        response = compare(client, url)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "presets[0].base_url"
    assert fake.requests == []


def test_allowed_host_gets_the_users_key_and_never_the_servers(fake: FakeUpstream, tmp_path):
    settings = settings_for(
        "http://127.0.0.1:9/v1", tmp_path, allow_custom_endpoints=True, allowed_hosts="127.0.0.1"
    )
    with TestClient(create_app(settings)) as client:
        response = compare(client, fake.base_url)
        assert response.status_code == 200, response.text
        sample = response.json()["columns"][0]["samples"][0]
        assert sample["error"] is None and sample["text"]
        saved = client.get(f"/api/runs/{response.json()['id']}").text
        page = client.get(f"/r/{response.json()['id']}").text
    (received,) = fake.requests
    assert received.headers["authorization"] == f"Bearer {USER_KEY}"
    assert CANARY_KEY not in str(received.headers)
    # Nothing about this server either: the SDK's x-stainless-* headers name its OS and Python.
    assert set(received.headers) <= SENT_HEADERS | {"authorization"}
    for surface in (response.text, saved, page):
        assert USER_KEY not in surface
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert USER_KEY.encode() not in file.read_bytes()


def test_the_page_offers_endpoint_fields_only_when_enabled(client, fake, tmp_path):
    assert 'name="p-0-base_url"' not in client.get("/").text
    app = create_app(settings_for(fake.base_url, tmp_path / "on", allow_custom_endpoints=True))
    with TestClient(app) as enabled:
        html = enabled.get("/").text
        assert 'name="p-0-base_url"' in html and 'type="password" name="p-0-api_key"' in html
        fields = {"prompt": "hi", "p-0-base_url": "http://10.0.0.1/v1", "action": "run"}
        refused = enabled.post("/", data=fields)
    assert refused.status_code == 422 and "private" in refused.text.lower()
    assert fake.requests == []


def test_links_never_carry_the_endpoint_or_key(fake, tmp_path):
    app = create_app(settings_for(fake.base_url, tmp_path, allow_custom_endpoints=True))
    fields = {
        "prompt": "hi",
        "p-0-name": "mine",
        "p-0-base_url": "https://llm.example.com/v1",
        "p-0-api_key": USER_KEY,
        "action": "link",
    }
    with TestClient(app) as client:
        link = client.post("/", data=fields, headers={"HX-Request": "1"}).headers["HX-Push-Url"]
    assert "mine" in link and USER_KEY not in link and "example.com" not in link
