"""Preset links: exact round trips, readable links, and tampered links read as far as they go."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from app.engine.knobs import KNOBS, MAX_CHARS, MAX_PRESETS, MAX_STOP_SEQUENCES, SAMPLES
from app.engine.presets import Preset, builtin_presets
from app.main import create_app
from app.web.forms import PlaygroundForm, column_values, to_request
from app.web.sharelink import decode, encode, encode_form
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream
from tests.strategies import knob_values

texts = st.text(st.characters(codec="utf-8"), max_size=40)


def consistent(fields: dict[str, Any]) -> Preset:
    """A preset from `fields`, without a knob whose `needs` is not true (top_logprobs)."""
    for knob in KNOBS:
        if knob.needs and fields.get(knob.needs) is not True:
            fields[knob.name] = None
    return Preset(**fields)


presets = st.fixed_dictionaries(
    {
        "name": st.none() | st.text(max_size=MAX_CHARS["name"]),
        "model": st.none() | st.text(max_size=MAX_CHARS["model"]),
        **{k.name: st.none() | knob_values(k) for k in KNOBS if k.kind != "stop"},
        "stop": st.none() | st.lists(texts, max_size=MAX_STOP_SEQUENCES),
    }
).map(consistent)
links = st.tuples(
    st.none() | st.text(max_size=200),
    st.text(max_size=300),
    knob_values(SAMPLES),
    st.lists(presets, max_size=MAX_PRESETS),
)


@settings(max_examples=150)
@given(links)
def test_every_field_round_trips_exactly(link):
    system, prompt, samples, columns = link
    query = encode(system, prompt, samples, columns)
    # As a raw query string, and as a framework hands over parsed parameters.
    parsed = (parse_qs(query, keep_blank_values=True), QueryParams(query))
    for given_query in (query, *parsed):
        decoded = decode(given_query)
        assert decoded.problems == []
        assert decoded.prompt == prompt
        assert decoded.system == (system or None)
        assert decoded.samples == samples
        assert decoded.presets == columns
        for got, sent in zip(decoded.presets, columns, strict=True):
            assert [repr(v) for v in got.knobs().values()] == [
                repr(v) for v in sent.knobs().values()
            ]


@settings(max_examples=60)
@given(st.lists(presets.map(lambda p: p.model_copy(update={"stop": None})), min_size=1))
def test_the_restored_form_validates_back_to_the_same_presets(columns):
    columns = columns[:MAX_PRESETS]
    form = decode(encode(None, "Hi", 3, columns)).form()
    request = to_request(form)
    assert request is not None, form.errors
    assert request.presets == columns
    assert form.samples == "3"


# The form holds one stop sequence per line, so a line break cannot be part of one there.
one_line = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Zl", "Zp")), min_size=1)


@settings(max_examples=60)
@given(links, st.lists(one_line, max_size=4))
def test_a_form_links_like_its_presets(link, stops):
    system, prompt, samples, columns = link
    columns = [p.model_copy(update={"stop": stops or None}) for p in columns]
    form = PlaygroundForm(system or "", prompt, str(samples), [column_values(p) for p in columns])
    decoded = decode(encode_form(form))
    assert decoded.problems == []
    assert (decoded.system, decoded.prompt, decoded.samples) == (system or None, prompt, samples)
    assert decoded.presets == columns


def test_a_form_with_mistakes_still_links_and_names_them():
    columns = [column_values(p) for p in builtin_presets()]
    columns[1]["temperature"] = "warm"
    columns[2]["max_tokens"] = " 64 "
    decoded = decode(encode_form(PlaygroundForm("", "Hi", "3", columns)))
    assert decoded.problems == [
        "preset 2: temperature=warm is not a number between 0 and 2, left unset"
    ]
    assert [p.name for p in decoded.presets] == ["Deterministic", "Precise", "Balanced", "Creative"]
    assert decoded.presets[1].temperature is None and decoded.presets[2].max_tokens == 64


def test_the_common_link_is_short_and_readable():
    prompt = "Explain what top_p does in two sentences, for someone who knows temperature. " * 3
    query = encode("Be brief.", prompt, 2, builtin_presets())
    assert query.startswith("prompt=Explain+what+top_p+does+in+two+sentences,+for")
    assert "&p=Deterministic;temperature=0&p=Precise;temperature=0.2&" in query
    assert query.endswith("&p=Creative;temperature=1&v=1")
    assert len(query) < 400


def test_a_link_without_presets_falls_back():
    decoded = decode("prompt=Hi&v=1")
    assert decoded.presets == [] and decoded.problems == []
    assert len(decoded.form(builtin_presets()).columns) == 4


def test_names_and_stops_with_separators_survive():
    tricky = Preset(name="a;b=c%25 d", stop=["; =", "%3B", "\n\n", "😀"])
    decoded = decode(encode(None, "x", 1, [tricky]))
    assert decoded.presets == [tricky] and decoded.problems == []


@pytest.mark.parametrize(
    ("query", "problem", "kept"),
    [
        ("prompt=Hi&p=A;top_p=abc;temperature=0.5", "preset 1: top_p=abc is not a number", "A"),
        ("prompt=Hi&p=A;top_k=2.5;temperature=0.5", "top_k=2.5 is not a whole number", "A"),
        ("prompt=Hi&p=A;temperature=9;temperature=0.5", "temperature=9 is not a number", "A"),
        ("prompt=Hi&p=A;temperature=nan", "temperature=nan", "A"),
        ("prompt=Hi&p=A;temperature=1e999", "temperature=1e999", "A"),
        ("prompt=Hi&p=A;seed=" + "9" * 30, "seed=999", "A"),
        ("prompt=Hi&p=A;colour=red", "unknown setting colour", "A"),
        ("prompt=Hi&p=A;justaword", "justaword is not name=value", "A"),
        ("prompt=Hi&p=A;stop=1;stop=2;stop=3;stop=4;stop=5", "first 4 stops", "A"),
        ("prompt=Hi&p=A;name=B", "name given twice", "A"),
        ("prompt=Hi&samples=9&p=A", f"samples=9 is not {SAMPLES.describe()}", "A"),
        ("prompt=Hi&samples=&p=A", "samples='' is not", "A"),
        ("prompt=Hi&p=A&v=7", "format v=7", "A"),
        ("prompt=Hi&x=1&p=A", "unknown part x", "A"),
        ("prompt=Hi&prompt=Bye&p=A", "prompt appears more than once", "A"),
        ("prompt=Hi%zz&p=A", "the prompt has a '%' that is not a valid escape", "A"),
        ("prompt=Hi%C3%28&p=A", "the prompt has escapes that are not valid UTF-8", "A"),
        ("prompt=Hi&p=A%ZZ", "preset 1: name has a '%'", "A%ZZ"),
        ("prompt=Hi&p=A;model=%25C3%2528", "preset 1: model has escapes that are not", "A"),
    ],
)
def test_tampered_links_keep_what_they_can(query, problem, kept):
    decoded = decode(query + "&v=1")
    assert any(problem in p for p in decoded.problems), decoded.problems
    assert decoded.prompt.startswith("Hi")
    assert decoded.presets[0].name == kept


def test_a_link_cut_anywhere_keeps_every_whole_preset_before_the_cut():
    columns = [*builtin_presets(), Preset(name="Last", top_p=0.9, stop=["END"])]
    query = encode("Be brief.", "Hello there", 3, columns)
    for end in range(len(query) + 1):
        decoded = decode(query[:end])
        whole = decoded.presets[:-1]
        assert whole == columns[: len(whole)]
        # Cut anywhere but at the very start, the person is told something is missing.
        assert bool(decoded.problems) == (0 < end < len(query))


def test_a_link_cut_short_says_so():
    decoded = decode("prompt=Hi&p=A;temperature=0.")
    assert decoded.presets == [Preset(name="A", temperature=0)]
    assert decoded.problems == [
        "the link does not end with v=1, so it may have been cut short: "
        "check the prompt and the last preset"
    ]


def test_fifty_presets_keep_the_first_eight():
    query = encode(None, "Hi", 2, [Preset(name=f"P{i}", seed=i) for i in range(50)])
    decoded = decode(query)
    assert [p.name for p in decoded.presets] == [f"P{i}" for i in range(MAX_PRESETS)]
    assert decoded.problems == ["the link has 50 presets; only the first 8 were read"]
    assert decoded.presets[-1].seed == 7


def test_huge_values_are_cut_and_said():
    query = "v=1&prompt=" + "a" * 60_000 + "&system=" + "s" * 60_000 + "&p=" + "n" * 500 + ";model="
    # The prompt and the system message are each cut at the server's KNOBS_MAX_PROMPT_CHARS.
    decoded = decode(query + "m" * 1000, max_chars=50_000)
    assert len(decoded.prompt) == 50_000 and len(decoded.system or "") == 50_000
    assert decoded.presets[0].name == "n" * 80 and decoded.presets[0].model == "m" * 200
    assert len(decoded.problems) == 4


def test_a_flood_of_junk_is_summed_up():
    decoded = decode("&".join(f"junk{i}=1" for i in range(1000)))
    assert len(decoded.problems) == 12
    assert decoded.problems[-1] == "and 990 more problems"  # 1000 unknown parts and no v=1


@settings(max_examples=300)
@given(st.text(max_size=300) | st.text("p=;&%3Bx0.5etmpru", max_size=80))
def test_no_query_string_raises(query):
    decoded = decode(query)
    assert len(decoded.presets) <= MAX_PRESETS


@given(st.dictionaries(st.text(max_size=10), st.lists(st.text(max_size=60), max_size=3)))
def test_no_parsed_parameters_raise(params):
    decode({**params, "p": [v for vs in params.values() for v in vs]})


def prompt_shown(page: str) -> str:
    found = re.search(r'<textarea name="prompt"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert found is not None
    return html.unescape(found.group(1))


@pytest.mark.parametrize(("limit", "kept"), [(100_000, 60_000), (None, 50_000)])
def test_a_link_keeps_the_prompt_the_server_takes(fake: FakeUpstream, tmp_path, limit, kept):
    """KNOBS_MAX_PROMPT_CHARS raised to 100,000: a link made and opened keeps a 60,000-character
    prompt whole. At the default 50,000 it is cut there, and the page says so."""
    raised = {"max_prompt_chars": limit} if limit else {}
    app = create_app(settings_for(fake.base_url, tmp_path, **raised))
    prompt = "".join(f"word {i} " for i in range(9000))[:60_000]
    with TestClient(app) as client:
        made = client.post("/", data={"prompt": prompt, "p-0-name": "A", "action": "link"})
        link = made.headers["HX-Push-Url"]
        opened = client.get(link).text
    assert prompt_shown(opened) == prompt[:kept]
    cut = "the prompt was longer than 50,000 characters and was cut"
    assert (cut in html.unescape(opened)) == (kept < len(prompt))
