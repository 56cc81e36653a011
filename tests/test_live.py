"""The page's live view on one process: the comparison starts with the POST, the stream reads
its frames from the first (however late it connects), a tab that leaves or never comes stops
it, and a view that breaks still ends, saying so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.engine.presets import Preset
from app.storage.live_frames import LiveStore
from app.storage.store import RunStore
from app.web import live_views as live_module
from app.web.live_views import CRASHED, Feed, LiveComparisons
from app.web.templating import build_templates
from tests.conftest import services
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields, stream_token

HX = {"HX-Request": "true"}


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def test_the_requests_go_out_with_the_post_before_the_stream_connects(
    client: TestClient, fake: FakeUpstream
):
    fake.behave(text="Teal.")
    token = stream_token(client.post("/", data=form_fields([Preset()]), headers=HX).text)
    wait_for(lambda: len(fake.requests) == 2)  # one column, two samples, no stream yet
    wait_for(lambda: not fake.in_flight)
    # A tab that connects after the comparison has ended still gets every frame, in order.
    with client.stream("GET", f"/compare/{token}/events") as events:
        body = "".join(events.iter_text())
    assert body.index("sent, waiting") < body.index(">Teal.<") < body.index("event: c-0")
    assert body.rstrip().split("\n\n")[-1].startswith("event: done") and "Finished in" in body
    assert len(fake.requests) == 2  # the stream ran nothing again


def test_a_tab_that_leaves_stops_its_comparison_and_the_answers_so_far_are_saved(
    client: TestClient, fake: FakeUpstream
):
    fake.behave(text=" ".join(["slow"] * 400), chunk_delay=0.05)
    token = stream_token(client.post("/", data=form_fields([Preset()]), headers=HX).text)
    with client.stream("GET", f"/compare/{token}/events") as events:
        for line in events.iter_lines():
            if ">slow " in line:
                break  # the tab goes away mid-answer
    wait_for(lambda: not fake.in_flight)
    store: RunStore = services(client).store
    wait_for(lambda: len(store.list_runs()[0]) == 1)
    (summary,), _ = store.list_runs()
    assert summary.stopped


def test_a_tab_that_never_connects_stops_its_comparison(
    client: TestClient, fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(live_module, "UNWATCHED_SECONDS", 0.5)
    fake.behave(text=" ".join(["slow"] * 400), chunk_delay=0.05)
    client.post("/", data=form_fields([Preset()]), headers=HX)
    wait_for(lambda: fake.in_flight == 2)
    wait_for(lambda: not fake.in_flight, seconds=5)  # 20 s of answer, stopped at about 0.5 s


def test_a_view_that_breaks_still_ends_saying_so(tmp_path, caplog: pytest.LogCaptureFixture):
    store = RunStore(f"sqlite:///{tmp_path / 'knobs.db'}")
    live = LiveComparisons(LiveStore(store.transient), build_templates())

    async def breaks(feed: Feed) -> None:
        feed.publish("event: text\ndata: so far\n\n")
        raise RuntimeError("a bug in how the view is drawn")

    async def scenario() -> list[str]:
        token = await live.start(breaks)
        frames = await live.follow(token)
        assert frames is not None
        return [frame async for frame in frames]

    try:
        got = asyncio.run(scenario())
    finally:
        store.close()
    body = "".join(got)  # the frames come together when they are there together
    assert body.startswith("event: text") and body.rstrip().split("\n\n")[-1].startswith(
        "event: done"
    )
    assert CRASHED.split("(")[0] in body
    assert "a bug in how the view is drawn" in caplog.text
