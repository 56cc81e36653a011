"""Caps hold before any upstream call: nothing is sent for an over-cap comparison."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream


@pytest.fixture
def capped(fake: FakeUpstream, tmp_path):
    app = create_app(
        settings_for(fake.base_url, tmp_path, max_prompt_chars=100, max_tokens_per_comparison=1000)
    )
    with TestClient(app) as client:
        yield client


def test_token_budget_is_enforced(capped, fake: FakeUpstream):
    body = {"prompt": "hi", "samples": 3, "presets": [{"max_tokens": 200}, {"max_tokens": 200}]}
    response = capped.post("/api/compare", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["field"] == "presets" and "1,200 tokens" in detail["msg"]
    assert "KNOBS_MAX_TOKENS_PER_COMPARISON" in detail["msg"]
    assert fake.requests == []
    body["samples"] = 2
    assert capped.post("/api/compare", json=body).status_code == 200


def test_unset_max_tokens_counts_at_the_estimate(capped, fake: FakeUpstream):
    response = capped.post("/api/compare", json={"prompt": "hi", "presets": [{}]})
    assert response.status_code == 422 and "8,192 tokens" in response.json()["detail"][0]["msg"]
    assert fake.requests == []


def test_prompt_size_is_enforced(capped, fake: FakeUpstream):
    body = {"prompt": "x" * 90, "system": "y" * 20, "presets": [{"max_tokens": 10}]}
    response = capped.post("/api/compare", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "prompt"
    assert fake.requests == []


def test_the_page_shows_the_cap_beside_the_prompt(capped, fake: FakeUpstream):
    fields = {"prompt": "z" * 150, "samples": "1", "p-0-max_tokens": "10", "action": "run"}
    response = capped.post("/", data=fields)
    assert response.status_code == 422
    assert "KNOBS_MAX_PROMPT_CHARS" in response.text
    assert "z" * 150 + "</textarea>" in response.text  # nothing typed is lost
    assert fake.requests == []
