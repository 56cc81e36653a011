"""One retry policy: 429, 5xx and connection failures retried with backoff, then given up."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream

BODY = {"prompt": "hi", "samples": 1, "presets": [{"model": "fake-model"}]}


def run(fake: FakeUpstream, tmp_path, **settings):
    app = create_app(settings_for(fake.base_url, tmp_path, **settings))
    with TestClient(app) as client:
        return client.post("/api/compare", json=BODY).json()["columns"][0]["samples"][0]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_failures_are_retried_then_succeed(fake: FakeUpstream, tmp_path, status):
    fake.behave(status=status, fail_times=2, retry_after="0")
    sample = run(fake, tmp_path, upstream_retries=2)
    assert sample["error"] is None and sample["text"]
    assert len(fake.requests) == 3


def test_gives_up_cleanly_after_the_last_retry(fake: FakeUpstream, tmp_path):
    fake.behave(status=503, retry_after="0")
    sample = run(fake, tmp_path, upstream_retries=2)
    assert "(503)" in sample["error"]
    assert len(fake.requests) == 3  # the first try and two retries: the SDK adds none


def test_client_errors_are_not_retried(fake: FakeUpstream, tmp_path):
    fake.behave(status=400)
    assert "rejected the request (400)" in run(fake, tmp_path, upstream_retries=3)["error"]
    assert len(fake.requests) == 1


def test_retry_after_is_honoured_up_to_the_bound(fake: FakeUpstream, tmp_path):
    fake.behave(status=429, fail_times=1, retry_after="0.6")
    started = time.monotonic()
    assert run(fake, tmp_path, upstream_retries=1)["error"] is None
    waited = time.monotonic() - started
    assert waited >= 0.6  # it waited as asked (a lower bound: never flaky on a busy machine)
    fake.reset()
    fake.behave(status=429, fail_times=1, retry_after="3600")
    sample = run(fake, tmp_path, upstream_retries=1, retry_after_max=0.1)
    assert sample["error"] is None  # an hour was asked; the bound made it 0.1 s


def test_a_broken_stream_is_not_retried(fake: FakeUpstream, tmp_path):
    fake.behave(text="one two three four", break_after=2)
    sample = run(fake, tmp_path, upstream_retries=3)
    assert sample["incomplete"] and sample["text"] == "one two "
    assert len(fake.requests) == 1
