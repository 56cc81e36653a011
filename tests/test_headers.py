"""Through the security-header middleware of the real app: the live stream still streams and
the app still hears the client leave; /docs needs no CDN. (tests/test_wiring.py checks the
headers themselves on every kind of answer.)"""

from __future__ import annotations

import re
import time

import httpx2

from app.engine.presets import Preset
from tests.fake_upstream import FakeUpstream
from tests.test_disconnects import wait_for
from tests.test_pages import form_fields, stream_token


def test_stream_goes_out_unbuffered_and_the_app_sees_the_client_leave(
    live_server, fake: FakeUpstream
):
    # Seconds of answer still to come while the test reads the first of it.
    fake.behave(text=" ".join(["drip"] * 200), chunk_delay=0.05)
    fields = form_fields([Preset(name="one")], samples="1")
    with httpx2.Client(base_url=live_server.url, timeout=5) as client:
        page = client.post("/", data=fields, headers={"HX-Request": "true"})
        token = stream_token(page.text)
        # A client that takes gzip still gets the stream as it is: compression would hold
        # frames back until enough of them fill a block.
        gzip = {"Accept-Encoding": "gzip"}
        with client.stream("GET", f"/compare/{token}/events", headers=gzip) as response:
            assert "content-encoding" not in response.headers
            # Hold on to the iterator: dropping it closes the response (httpx closes on exit).
            frames = response.iter_raw()
            while b"event: " not in next(frames):  # comments (heartbeats) do not count
                pass
            time.sleep(0.3)
            assert fake.in_flight == 1, "the stream ended while the client was there"
        # Leaving closes the connection; the app must notice and close the upstream request.
        wait_for(lambda: fake.in_flight == 0, seconds=3.0)
    assert len(fake.requests) == 1


def test_pages_and_static_files_are_compressed(client):
    gzip = {"Accept-Encoding": "gzip"}
    for path in ("/", "/static/htmx-2.0.11.min.js", "/static/app.css", "/openapi.json"):
        response = client.get(path, headers=gzip)
        assert response.headers.get("content-encoding") == "gzip", path


def test_api_docs_are_served_from_this_server_with_no_inline_code(client):
    html = client.get("/docs").text
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and all(re.search(r'src="/static/[^"]+"', attrs) for attrs in scripts)
    assert "<style" not in html and "style=" not in html
    assert 'data-openapi-url="/openapi.json"' in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
