"""Queued time on the page, the live stream, the saved run and its exports; and the notes
that say when timings do not compare across columns."""

from __future__ import annotations

import re

import pytest

from app.engine.presets import Preset
from app.engine.timing_notes import timing_notes
from tests.fake_upstream import FakeUpstream
from tests.sample_runs import column, sample
from tests.test_pages import form_fields, stream_token

FOUR = [Preset(name=f"c{c}", temperature=c / 10) for c in range(4)]


@pytest.fixture
def one_slot(fake: FakeUpstream) -> FakeUpstream:
    """An endpoint with one slot that says so on /props, as llama.cpp's server does; each
    answer takes at least 0.1 s, so eight in a row make the last wait at least 0.7 s."""
    fake.limit_slots(1, report=True)
    fake.behave(latency=0.1)
    return fake


def stats_rows(page: str) -> list[str]:
    return re.findall(r'<table class="stats">.*?</table>', page, re.S)


def test_the_plain_form_shows_queued_apart_from_ttft_and_saves_it(client, one_slot):
    waits = r'knobs_upstream_queued_seconds_bucket\{endpoint="default",le="0.0"\} (\S+)'
    sent_at_once = re.findall(waits, client.get("/metrics").text)
    page = client.post("/", data=form_fields(FOUR)).text
    after = re.findall(waits, client.get("/metrics").text)
    # Eight requests, one of them sent at once (Prometheus counts from where this process was).
    assert float(after[0]) - float((sent_at_once or ["0"])[0]) == 1
    assert one_slot.max_in_flight == 1
    tables = stats_rows(page)
    assert len(tables) >= 4 and all(">queued</th><th" in t for t in tables)
    assert re.search(r'<td class="queued">\d+(\.\d+)? (ms|s)</td>', page)
    assert "waited up to" in page and "for their turn" in page
    run_id = re.search(r'href="/r/([\w-]{22,})">Saved run', page)
    assert run_id
    saved = client.get(f"/api/runs/{run_id.group(1)}").json()
    queued = [s["queued_ms"] for c in saved["columns"] for s in c["samples"]]
    assert queued.count(None) == 1 and max(q or 0 for q in queued) >= 700
    run_page = client.get(f"/r/{run_id.group(1)}").text
    assert ">queued</th>" in run_page and "waited up to" in run_page
    csv = client.get(f"/r/{run_id.group(1)}.csv").text
    assert "queued_ms" in csv.splitlines()[0]
    assert "· queued " in client.get(f"/r/{run_id.group(1)}.md").text


def test_the_live_page_shows_queued_and_the_note(client, one_slot):
    page = client.post("/", data=form_fields(FOUR), headers={"HX-Request": "1"}).text
    with client.stream("GET", f"/compare/{stream_token(page)}/events") as events:
        body = "".join(events.iter_text())
    assert ">queued</th>" in body and "waited up to" in body


def test_no_queue_no_queued_column(client, fake: FakeUpstream):
    page = client.post("/", data=form_fields(FOUR)).text
    assert "Saved run" in page and ">queued</th>" not in page and "timing-notes" not in page


def test_notes_for_columns_on_different_endpoints():
    a = column(Preset(name="a"), [sample()]).model_copy(update={"endpoint": "embedded"})
    b = column(Preset(name="b"), [sample()]).model_copy(update={"endpoint": "openai"})
    [note] = timing_notes([a, b])
    assert "different endpoints (embedded, openai)" in note
    assert timing_notes([a, a]) == []


def test_a_hidden_server_queue_is_suspected_only_without_knobs_own():
    fast = column(Preset(name="a"), [sample(ttft_ms=300.0), sample(ttft_ms=320.0)])
    slow = column(Preset(name="b"), [sample(ttft_ms=8600.0), sample(ttft_ms=5400.0)])
    [note] = timing_notes([fast, slow])
    assert "differs up to 23×" in note and "parallel = " in note
    # Where Knobs queued, its own line explains the order; the notes say that instead.
    queued = column(Preset(name="b"), [sample(ttft_ms=8600.0, queued_ms=6200.0), sample()])
    [note] = timing_notes([fast, queued])
    assert "waited up to 6.2 s" in note
    # Fast endpoints vary by more than 5× in noise alone: no note under 200 ms.
    quick = column(Preset(name="c"), [sample(ttft_ms=150.0)])
    assert timing_notes([column(Preset(), [sample(ttft_ms=10.0)]), quick]) == []


def test_the_endpoints_own_timings_tell_its_hidden_queue():
    waited = sample(ttft_ms=4100.0, prompt_ms=90.0)
    prompt = column(Preset(name="a"), [sample(ttft_ms=120.0, prompt_ms=90.0), waited])
    [note] = timing_notes([prompt])
    assert "up to 4.0 s" in note and "By its own timings" in note
    # Its timings say it did not queue: no guess from the TTFT spread either.
    fine = column(Preset(name="b"), [sample(ttft_ms=6000.0, prompt_ms=5900.0)])
    assert timing_notes([column(Preset(), [sample(ttft_ms=300.0, prompt_ms=250.0)]), fine]) == []
