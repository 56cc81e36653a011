"""Saving and sharing wired into the playground and the API, end to end against the fake."""

from __future__ import annotations

import html
import re

from app.engine.presets import Preset
from app.storage.saved import SavedRun
from app.web.forms import column_values
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields, stream_token


def field_value(page: str, name: str) -> str:
    """What a form field on the page holds: an input's value, a textarea's text or the
    option a select has selected (its first when none is)."""
    tag = re.search(rf'<(input|textarea|select)[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert tag, f"no field {name}"
    if tag.group(1) == "select":
        options = page[tag.end() : page.index("</select>", tag.end())]
        chosen = re.search(r"<option([^>]*) selected>([^<]*)<", options) or re.search(
            r"<option([^>]*)>([^<]*)<", options
        )
        assert chosen, f"no options in {name}"
        value = re.search(r'value="([^"]*)"', chosen.group(1))
        return html.unescape(value.group(1) if value else chosen.group(2))
    if tag.group(1) == "textarea":
        end = page.index("</textarea>", tag.end())
        return html.unescape(page[tag.end() : end])
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else ""


def test_api_compare_saves_the_run_before_answering(client, fake: FakeUpstream):
    fake.behave(texts=["first", "second"])
    body = {"prompt": "Hi", "system": "Be kind.", "presets": [{"name": "hot", "temperature": 1}]}
    answer = client.post("/api/compare", json=body).json()
    assert len(answer["id"]) >= 22 and answer["url"].endswith(f"/r/{answer['id']}")
    saved = client.get(f"/api/runs/{answer['id']}").json()
    assert saved["prompt"] == "Hi" and saved["system"] == "Be kind."
    assert saved["columns"] == answer["columns"]
    assert saved["models"] == ["fake-model"]
    assert client.get(f"/r/{answer['id']}").status_code == 200


def test_plain_form_run_is_saved_and_linked(client, fake: FakeUpstream):
    html_text = client.post("/", data=form_fields([Preset(name="x", temperature=0)])).text
    match = re.search(r'href="/r/([\w-]{22,})">Saved run', html_text)
    assert match, "no permalink on the page"
    run = SavedRun.model_validate(client.get(f"/api/runs/{match.group(1)}").json())
    assert run.prompt == "Name a colour." and run.columns[0].preset.name == "x"


def test_live_run_is_saved_when_the_stream_ends(client, fake: FakeUpstream):
    page = client.post("/", data=form_fields([Preset()]), headers={"HX-Request": "1"}).text
    with client.stream("GET", f"/compare/{stream_token(page)}/events") as events:
        body = "".join(events.iter_text())
    run_id = re.search(r'href="/r/([\w-]{22,})"', body)
    assert run_id, body[-500:]
    assert client.get(f"/api/runs/{run_id.group(1)}").status_code == 200
    history = client.get("/runs").text
    assert run_id.group(1) in history


def test_copy_link_restores_the_form_exactly(client, fake: FakeUpstream):
    presets = [
        Preset(name="Tight", temperature=0.1, top_p=0.95, max_tokens=64, stop=["###", "a;b=c"]),
        Preset(name="Loose é", temperature=1.3, seed=42, top_k=40, frequency_penalty=-0.5),
        Preset(name="Effort", reasoning_effort="minimal", verbosity="low"),
    ]
    fields = form_fields(presets, action="link", prompt="Line one\nLine two ✓", system="Sys")
    fields["samples"] = "4"
    response = client.post("/", data=fields, headers={"HX-Request": "1"})
    link = response.headers["HX-Push-Url"]
    assert link.startswith("/?") and "sk-" not in link
    assert len(link) < 400  # readable and short for the common case
    restored = client.get(link).text
    assert "Line one\nLine two ✓</textarea>" in restored and ">Sys</textarea>" in restored
    assert '<option value="4" selected>' in restored
    for i, preset in enumerate(presets):
        for name, value in column_values(preset).items():
            if name != "endpoint":  # one endpoint configured: no endpoint field to show
                assert field_value(restored, f"p-{i}-{name}") == value, name
    assert fake.requests == []  # opening a link runs nothing


def test_tampered_link_restores_what_it_can_and_says_what_it_could_not(client, fake):
    page = client.get("/?prompt=Still+here&samples=9&p=A;temperature=hot&p=B;top_p=0.5%ZZ&v=1")
    assert page.status_code == 200
    text = page.text
    assert "Still here</textarea>" in text
    assert "could not be read" in text
    assert 'value="A"' in text
    assert fake.requests == []


def test_absurd_links_never_fail(client):
    for query in ["%", "p=" + ";" * 5000, "samples=%00", "p=x;seed=99999999999999999999999", "v=9"]:
        assert client.get("/?" + query).status_code == 200
