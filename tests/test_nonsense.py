"""Nonsense input is refused with 4xx before a single upstream request is made."""

from __future__ import annotations

import pytest

from tests.fake_upstream import FakeUpstream


@pytest.mark.parametrize(
    "raw",
    [
        '{"prompt": "hi", "presets": [{"temperature": NaN}]}',
        '{"prompt": "hi", "presets": [{"temperature": Infinity}]}',
        '{"prompt": "hi", "presets": [{"top_p": -Infinity}]}',
        '{"prompt": "hi", "presets": [{"max_tokens": -5}]}',
        '{"prompt": "hi", "presets": [{"max_tokens": 1e400}]}',
        '{"prompt": "hi", "presets": [{"seed": 99999999999999999999999999}]}',
        '{"prompt": "hi", "presets": [{"temperature": "warm"}]}',
        '{"prompt": "hi", "presets": [{"stop": [1, 2]}]}',
        '{"prompt": "hi", "presets": [{"stop": ["a", "b", "c", "d", "e"]}]}',
        '{"prompt": ["hi"], "presets": [{}]}',
        '{"prompt": "hi", "presets": {}}',
        '{"prompt": "hi", "presets": []}',
        '{"prompt": "hi", "samples": 2.5, "presets": [{}]}',
        '{"prompt": "hi", "samples": true, "presets": [{}]}',
        '{"prompt": "hi", "presets": [{}], "extra": 1}',
        '{"prompt": "hi", "presets": [{}]',
        "not json at all",
        "[]",
        "null",
        "",
    ],
)
def test_refused_without_upstream_calls(client, fake: FakeUpstream, raw):
    response = client.post(
        "/api/compare", content=raw, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("path", "raw", "words"),
    [
        ("/api/compare", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (
            "/api/compare",
            b'{"prompt": "hi", "presets": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
            "nested too deeply",
        ),
        ("/api/sweep", b"{" + b'"a":{' * 50_000 + b"}" * 50_001, "nested too deeply"),
        (
            "/api/compare",
            '{"prompt": "caf\xe9", "presets": [{}]}'.encode("latin-1"),
            "not valid UTF-8",
        ),
    ],
)
def test_a_body_that_cannot_be_read_says_why(client, fake: FakeUpstream, path, raw, words):
    response = client.post(path, content=raw, headers={"content-type": "application/json"})
    # 400, as FastAPI answers it: nothing was read, so there is no field to name as a 422 does.
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert words in detail and "error parsing the body" not in detail
    assert fake.requests == []


def test_huge_body_gets_413(client, fake: FakeUpstream):
    body = '{"prompt": "' + "x" * 2_000_000 + '", "presets": [{}]}'
    response = client.post(
        "/api/compare", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert fake.requests == []


def test_wrong_content_type_is_refused(client, fake: FakeUpstream):
    response = client.post("/api/compare", data={"prompt": "hi"})
    assert response.status_code == 422
    assert fake.requests == []


def test_a_dripping_endpoint_is_cut_off_at_the_deadline(fake: FakeUpstream, tmp_path):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import settings_for

    fake.behave(text=" ".join(["drip"] * 100), chunk_delay=0.3)  # never idle long, never done
    app = create_app(settings_for(fake.base_url, tmp_path, request_timeout=1.0))
    with TestClient(app) as client:
        body = {"prompt": "hi", "samples": 1, "presets": [{}]}
        sample = client.post("/api/compare", json=body).json()["columns"][0]["samples"][0]
    assert "No complete answer within 1 s" in sample["error"]
    assert sample["incomplete"] and sample["text"].startswith("drip drip")
