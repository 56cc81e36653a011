"""When the client leaves, every upstream request of its comparison is closed, promptly."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest

from tests.fake_upstream import FakeUpstream


def wait_for(condition, seconds: float) -> float:
    """Seconds until `condition()` held; fails the test if it never did."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not true within {seconds} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("path", ["/api/compare", "/"])
def test_a_client_that_hangs_up_closes_the_upstream_requests(live_server, fake: FakeUpstream, path):
    fake.behave(text=" ".join(["drip"] * 500), chunk_delay=0.2)
    request: dict[str, Any] = (
        {"data": {"prompt": "hi", "samples": "2", "p-0-name": "a", "p-1-name": "b"}}
        if path == "/"
        else {"json": {"prompt": "hi", "samples": 2, "presets": [{}, {}]}}
    )
    with (
        httpx2.Client(base_url=live_server.url, timeout=1.0) as client,
        pytest.raises(httpx2.ReadTimeout),
    ):
        client.post(path, **request)  # gives up after 1 s and closes the connection
    assert fake.max_in_flight == 4
    wait_for(lambda: fake.in_flight == 0, seconds=2.0)
