"""The server's key never shows up anywhere a person or a file could see it.

The fake endpoint echoes the key in its error messages (some real ones do); the canary is
then searched for in every page, fragment, SSE frame, JSON answer, OpenAPI document, saved
run, export, log record and data file."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.engine.presets import Preset
from app.main import create_app
from app.web.forms import column_values
from tests.conftest import CANARY_KEY, settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields, stream_token

MASKED = CANARY_KEY[:8] + "****" + CANARY_KEY[-4:]


def test_the_key_appears_nowhere(fake: FakeUpstream, tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    fake.behave_for(
        "leaky", status=401, error_message=f"Incorrect API key {CANARY_KEY} (also {MASKED})"
    )
    app = create_app(settings_for(fake.base_url, tmp_path / "data"))
    surfaces: list[str] = []
    with TestClient(app) as client:
        presets = [{"model": "leaky", "name": "leaky"}, {"model": "fake-model"}]
        answer = client.post("/api/compare", json={"prompt": "hi", "presets": presets})
        surfaces.append(answer.text)
        run_id = answer.json()["id"]
        assert "Incorrect API key [redacted]" in answer.text  # the message itself survives

        fields = form_fields([Preset(model="leaky"), Preset()])
        surfaces.append(client.post("/", data=fields).text)
        page = client.post("/", data=fields, headers={"HX-Request": "1"}).text
        surfaces.append(page)
        with client.stream("GET", f"/compare/{stream_token(page)}/events") as events:
            surfaces.append("".join(events.iter_text()))
        fields.update({f"p-0-{k}": v for k, v in column_values(Preset(model="leaky")).items()})
        surfaces.append(client.post("/", data={**fields, "action": "link"}).text)
        for path in (
            "/", "/openapi.json", "/docs", "/runs", "/api/models", "/healthz",
            f"/r/{run_id}", f"/r/{run_id}.json", f"/r/{run_id}.csv", f"/r/{run_id}.md",
            f"/api/runs/{run_id}",
        ):  # fmt: skip
            response = client.get(path)
            surfaces.append(response.text + str(response.headers))
    # The key did go where it belongs: to the configured endpoint, in the Authorization header.
    assert any(CANARY_KEY in r.headers.get("authorization", "") for r in fake.requests)
    for surface in surfaces:
        assert CANARY_KEY not in surface
        assert MASKED not in surface
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert CANARY_KEY not in logged
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert files, "the data dir should hold the saved runs"
    for file in files:
        assert CANARY_KEY.encode() not in file.read_bytes(), file


@pytest.mark.parametrize(
    "text",
    [
        "key sk-test-canary-key leaked",
        "masked sk-proj-********abcd",
        "Bearer sk-abcdefghijklmnop",
    ],
)
def test_redaction_catches_key_shapes(fake: FakeUpstream, tmp_path, text):
    fake.behave(status=500, error_message=text)
    app = create_app(settings_for(fake.base_url, tmp_path))
    with TestClient(app) as client:
        body = client.post("/api/compare", json={"prompt": "hi", "presets": [{}]}).text
    assert not re.search(r"sk-[\w*-]{6,}", body)
    assert "[redacted]" in body


def test_retry_log_lines_are_redacted(fake: FakeUpstream, tmp_path: Path, caplog):
    caplog.set_level(logging.INFO)
    fake.behave(status=503, fail_times=1, retry_after="0", error_message=f"busy {CANARY_KEY}")
    app = create_app(settings_for(fake.base_url, tmp_path, upstream_retries=1))
    with TestClient(app) as client:
        client.post("/api/compare", json={"prompt": "hi", "samples": 1, "presets": [{}]})
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries, "the retry was not logged"
    assert all(CANARY_KEY not in line and "[redacted]" in line for line in retries)
