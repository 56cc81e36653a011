"""The playground page without JavaScript: plain form posts return the whole page."""

from __future__ import annotations

import re

import pytest

from app.engine.knobs import MAX_PRESETS
from app.engine.presets import Preset, builtin_presets
from app.web.forms import column_values
from tests.fake_upstream import FakeUpstream


def form_fields(presets: list[Preset], **extra: str) -> dict[str, str]:
    fields = {"prompt": "Name a colour.", "samples": "2", "action": "run", **extra}
    for i, preset in enumerate(presets):
        fields.update({f"p-{i}-{k}": v for k, v in column_values(preset).items()})
    return fields


def stream_token(html: str) -> str:
    match = re.search(r'sse-connect="/compare/([\w-]+)/events"', html)
    assert match, "the playground is not wired to an event stream"
    return match.group(1)


def column_count(html: str) -> int:
    return len(re.findall(r'<section class="column"', html))


def test_page_starts_with_the_four_builtin_presets(client, fake: FakeUpstream):
    html = client.get("/").text
    assert column_count(html) == 4
    for name in ("Deterministic", "Precise", "Balanced", "Creative"):
        assert f'value="{name}"' in html
    assert '<option value="fake-model">' in html  # the model list read from /v1/models
    assert 'name="samples"' in html and "+ Nucleus preset" in html


def test_plain_submit_returns_the_full_page_with_results(client, fake: FakeUpstream):
    # Eight different answers for the eight requests: every column varies, whichever of
    # them reaches the fake first (two cycled answers could land alike in a column).
    fake.behave(texts=[f"Colour {n}." for n in range(8)])
    response = client.post("/", data=form_fields(builtin_presets()))
    assert response.status_code == 200
    html = response.text
    assert html.startswith("<!doctype html>")
    assert "Nondeterministic" in html and "Unexpectedly nondeterministic" in html
    shown = re.sub(r"<[^>]+>", "", html)  # the part after the divergence is highlighted
    assert all(f"Colour {n}." in shown for n in range(8))
    assert len(fake.requests) == 8
    assert 'value="Name a colour."' not in html  # textarea content, not an attribute
    assert "Name a colour.</textarea>" in html


def test_identical_answers_are_grouped(client, fake: FakeUpstream):
    fake.behave(text="Green.")
    html = client.post("/", data=form_fields([Preset(name="only", temperature=0)])).text
    assert "×2" in html and "Repeatable" in html


def test_truncation_flag_offers_a_rerun_with_double_max_tokens(client, fake: FakeUpstream):
    fake.behave(text="one two three four five six seven eight nine ten")
    html = client.post("/", data=form_fields([Preset(name="short", max_tokens=4)])).text
    assert "Truncated" in html and "max_tokens=4" in html
    assert 'value="rerun-0-8"' in html
    # The rerun button works without JavaScript too: it doubles and runs that column.
    fake.reset()
    fake.behave(text="one two three four five six seven eight nine ten")
    html = client.post(
        "/", data=form_fields([Preset(name="short", max_tokens=4)], action="rerun-0-8")
    ).text
    assert fake.requests[0].body["max_tokens"] == 8
    assert 'name="p-0-max_tokens" value="8"' in html


def test_invalid_fields_are_shown_next_to_the_field_and_nothing_is_lost(client, fake: FakeUpstream):
    fields = form_fields([Preset(name="hot", temperature=0.5)], prompt="")
    fields["p-0-temperature"] = "7"
    fields["system"] = "Keep this system message."
    response = client.post("/", data=fields)
    assert response.status_code == 422
    html = response.text
    assert "Write a prompt to compare." in html
    assert "temperature must be a number between 0 and 2" in html
    assert 'name="p-0-temperature" value="7"' in html  # what was typed is kept
    assert "Keep this system message.</textarea>" in html
    assert fake.requests == []


def test_add_duplicate_and_remove_columns_without_javascript(client, fake: FakeUpstream):
    presets = [Preset(name="a", temperature=0.1), Preset(name="b", temperature=0.9)]
    html = client.post("/", data=form_fields(presets, action="add")).text
    assert column_count(html) == 3
    html = client.post("/", data=form_fields(presets, action="duplicate-0")).text
    assert column_count(html) == 3 and 'value="a copy"' in html
    html = client.post("/", data=form_fields([*presets, Preset(name="c")], action="remove-1")).text
    assert column_count(html) == 2 and 'value="b"' not in html
    html = client.post("/", data=form_fields(presets, action="nucleus")).text
    assert 'value="Nucleus"' in html and 'name="p-2-top_p" value="0.9"' in html
    assert fake.requests == []


def test_the_page_keeps_two_columns_at_least(client, fake: FakeUpstream):
    presets = [Preset(name="a"), Preset(name="b")]
    html = client.post("/", data=form_fields(presets, action="remove-1")).text
    assert column_count(html) == 2 and 'value="b"' in html
    assert 'value="remove-' not in html  # no Remove button to press


def test_when_every_sample_fails_the_status_says_so(client, fake: FakeUpstream):
    fake.behave(status=500)
    html = client.post("/", data=form_fields(builtin_presets())).text
    assert "Finished in" not in html
    assert '<span class="failed">Every sample failed' in html
    token = stream_token(
        client.post("/", data=form_fields(builtin_presets()), headers={"HX-Request": "1"}).text
    )
    with client.stream("GET", f"/compare/{token}/events") as events:
        body = "".join(events.iter_text())
    done = body[body.index("event: done") :]
    assert "Every sample failed" in done and "Finished" not in done


def test_lint_warnings_show_before_running(client, fake: FakeUpstream):
    fields = form_fields([Preset(name="both", temperature=0.5, top_p=0.8)], action="add")
    html = client.post("/", data=fields).text
    assert "tune one at a time" in html


def test_lint_endpoint_checks_one_column(client):
    html = client.post("/lint/3", data={"p-3-temperature": "9", "p-3-max_tokens": "10"}).text
    assert 'id="notes-3"' in html
    assert "between 0 and 2" in html
    html = client.post("/lint/3", data={"p-3-max_tokens": "10"}).text
    assert "below 32" in html


def test_htmx_submit_returns_the_playground_wired_to_a_stream(client, fake: FakeUpstream):
    fake.behave(text="Teal.")  # the comparison starts with the POST
    response = client.post("/", data=form_fields(builtin_presets()), headers={"HX-Request": "true"})
    html = response.text
    assert html.lstrip().startswith("<form")
    token = stream_token(html)
    assert 'id="text-3-1"' in html and 'sse-swap="c-0"' in html
    assert html.count('sse-swap="text"') == 1  # one listener takes every text frame
    with client.stream("GET", f"/compare/{token}/events") as events:
        body = "".join(events.iter_text())
    assert "event: text\n" in body and 'beforeend:#text-0-0">Teal.</span>' in body
    assert body.count("event: c-") == 4
    assert body.rstrip().splitlines()[0].startswith("event:")
    assert "event: done" in body and "Finished in" in body
    # The token is single-use: a second stream only says the view has ended.
    with client.stream("GET", f"/compare/{token}/events") as events:
        assert "has ended" in "".join(events.iter_text())


def test_streamed_text_is_escaped(client, fake: FakeUpstream):
    fake.behave(text="<img src=x onerror=alert(1)> & more")
    html = client.post("/", data=form_fields([Preset()]), headers={"HX-Request": "1"}).text
    token = stream_token(html)
    with client.stream("GET", f"/compare/{token}/events") as events:
        body = "".join(events.iter_text())
    assert "<img" not in body and "&lt;img" in body


@pytest.mark.parametrize(
    ("indexes", "action"),
    [
        (range(9), "run"),
        (range(900), "run"),  # indexes of three digits were once skipped without a word
        ([*range(8), 100], "run"),
        (range(9), "link"),  # every button: nothing is made of a form cut short
    ],
)
def test_more_presets_than_knobs_compares_are_refused_at_the_form(
    client, fake: FakeUpstream, indexes, action
):
    fields = {"prompt": "Name a colour.", "samples": "1", "action": action}
    fields |= {f"p-{i}-name": f"Column {i}" for i in indexes}
    fields["p-2-temperature"] = "0.3"
    response = client.post("/", data=fields)
    assert response.status_code == 422
    html = response.text
    message = f"The form sent {len(indexes)} presets; Knobs compares at most {MAX_PRESETS} at once."
    assert f'<p class="error">{message}' in html
    # What was typed comes back: the first eight columns, as the form sent them.
    assert column_count(html) == MAX_PRESETS
    assert all(f'value="Column {i}"' in html for i in list(indexes)[:MAX_PRESETS])
    assert f'value="Column {list(indexes)[MAX_PRESETS]}"' not in html
    assert 'name="p-2-temperature" value="0.3"' in html
    assert fake.requests == []
    # The API refuses the same comparison.
    body = {"prompt": "Name a colour.", "presets": [{"name": "x"}] * len(indexes)}
    assert client.post("/api/compare", json=body).status_code == 422


def test_eight_presets_with_far_apart_indexes_still_run(client, fake: FakeUpstream):
    fields = {"prompt": "Name a colour.", "samples": "1", "action": "run"}
    fields |= {f"p-{i}-name": f"Column {i}" for i in (0, 1, 2, 3, 4, 5, 12, 100)}
    response = client.post("/", data=fields)
    assert response.status_code == 200 and len(fake.requests) == 8
    html = response.text
    assert column_count(html) == 8 and html.index("Column 12") < html.index("Column 100")
