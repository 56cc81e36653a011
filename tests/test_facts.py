"""One declaration per fact: every reader of a range, a limit or a flag agrees with its record.

Each test reads the declaration (app/engine/knobs.py, app/engine/flags.py) and checks a
reader against it, so a range or a flag rule written a second time somewhere fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.analysis import count_answered
from app.engine.flags import FLAG_LABELS, flag_kinds
from app.engine.knobs import (
    DEFAULT_SAMPLES,
    KNOB_BY_NAME,
    KNOBS,
    MAX_CHARS,
    MAX_PRESETS,
    MAX_STOP_SEQUENCES,
    SAMPLES,
    Knob,
    knob_text,
)
from app.engine.presets import CompareRequest, Preset
from app.storage import exports
from app.storage.exports import flags_text
from app.storage.saved import summarize
from app.web.forms import PlaygroundForm, column_values, to_request
from app.web.sharelink import decode
from app.web.templating import build_templates
from app.web.validation import TEXT_NAMES, message_for
from tests.sample_runs import column, make_run, sample
from tests.strategies import knob_values

templates = build_templates()

NUMBERS = [k for k in KNOBS if k.kind in ("float", "int")]
CHOICES = [k for k in KNOBS if k.kind == "choice"]
KIND_TYPES = {
    "float": float | None,
    "int": int | None,
    "stop": list[str] | None,
    "choice": str | None,
    "bool": bool | None,
}
TEXT_FIELDS = ("name", "endpoint", "model", "base_url", "api_key")


def value_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional property's schema."""
    branches = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    assert len(branches) == 1, prop
    return branches[0]


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from app.main import create_app
    from tests.conftest import settings_for

    app = create_app(settings_for(None, tmp_path_factory.mktemp("facts")))
    return app.openapi()["components"]["schemas"]


def test_every_knob_is_a_preset_field_of_its_kind():
    knob_fields = {n for n in Preset.model_fields if n in KNOB_BY_NAME}
    assert knob_fields == set(KNOB_BY_NAME)
    for knob in KNOBS:
        annotation = Preset.model_fields[knob.name].annotation
        assert annotation == KIND_TYPES[knob.kind], knob.name


def test_the_openapi_schema_shows_each_knobs_declared_range(schemas):
    preset = schemas["Preset-Input"]["properties"]
    for knob in NUMBERS:
        shown = value_schema(preset[knob.name])
        # FastAPI writes bounds as floats: seed's 2**63 - 1 shows as 2**63 (it always did).
        bounds = (shown["minimum"], shown["maximum"])
        assert bounds == (float(knob.low or 0), float(knob.high or 0)), knob.name
        assert shown["type"] == ("integer" if knob.kind == "int" else "number")
        assert preset[knob.name]["description"] == knob.help
    for knob in CHOICES:
        assert preset[knob.name]["enum"] == [*knob.options, None], knob.name
        assert preset[knob.name]["description"] == knob.help
    assert value_schema(preset["stop"])["maxItems"] == MAX_STOP_SEQUENCES
    assert f"Up to {MAX_STOP_SEQUENCES} " in preset["stop"]["description"]
    for name in TEXT_FIELDS:
        assert value_schema(preset[name])["maxLength"] == MAX_CHARS[name], name


def test_the_openapi_schema_shows_the_request_limits(schemas):
    request = schemas["CompareRequest"]["properties"]
    samples = request["samples"]
    assert (samples["minimum"], samples["maximum"]) == (SAMPLES.low, SAMPLES.high)
    assert samples["default"] == DEFAULT_SAMPLES
    assert request["presets"]["maxItems"] == MAX_PRESETS
    assert request["prompt"]["maxLength"] == MAX_CHARS["prompt"]
    assert value_schema(request["system"])["maxLength"] == MAX_CHARS["system"]


def test_the_default_samples_is_in_range_and_used_by_every_reader():
    assert SAMPLES.admits(DEFAULT_SAMPLES)
    assert CompareRequest(prompt="hi", presets=[Preset()]).samples == DEFAULT_SAMPLES
    assert PlaygroundForm().samples == str(DEFAULT_SAMPLES)
    assert decode("prompt=hi&v=1").samples == DEFAULT_SAMPLES


def out_of_range(knob: Knob) -> st.SearchStrategy[float]:
    """Values just past either end of a knob's range (ints for int knobs)."""
    low, high = knob.low, knob.high
    assert low is not None and high is not None
    past = st.integers(1, 1000) if knob.kind == "int" else st.floats(1e-6, 1e6)
    return past.map(lambda d: low - d) | past.map(lambda d: high + d)


@given(st.sampled_from(NUMBERS).flatmap(lambda k: st.tuples(st.just(k), out_of_range(k))))
def test_every_reader_names_a_knobs_declared_range(knob_and_value):
    knob, value = knob_and_value
    shown = knob_text(value)
    values = column_values(Preset()) | {knob.name: shown}
    form = PlaygroundForm(prompt="hi", columns=[values])
    assert to_request(form) is None
    assert knob.range_text() in form.errors[f"p-0-{knob.name}"]
    problems = decode(f"prompt=hi&p=A;{knob.name}={shown}&v=1").problems
    assert problems == [f"preset 1: {knob.name}={shown} is not {knob.describe()}, left unset"]


@pytest.mark.parametrize("knob", CHOICES, ids=lambda k: k.name)
def test_every_reader_names_a_choice_knobs_options(knob):
    values = column_values(Preset()) | {knob.name: "maximum"}
    form = PlaygroundForm(prompt="hi", columns=[values])
    assert to_request(form) is None
    assert form.errors[f"p-0-{knob.name}"] == (
        f"{knob.name} must be one of {', '.join(knob.options)}, or left empty (unset)."
    )
    problems = decode(f"prompt=hi&p=A;{knob.name}=maximum&v=1").problems
    assert problems == [f"preset 1: {knob.name}=maximum is not {knob.describe()}, left unset"]
    for option in knob.options:
        form = PlaygroundForm(prompt="hi", columns=[column_values(Preset()) | {knob.name: option}])
        request = to_request(form)
        assert request is not None and getattr(request.presets[0], knob.name) == option
        assert (
            getattr(decode(f"prompt=hi&p=A;{knob.name}={option}&v=1").presets[0], knob.name)
            == option
        )


@given(knob_values(SAMPLES))
def test_samples_in_range_are_accepted_everywhere(samples):
    form = PlaygroundForm(prompt="hi", samples=str(samples), columns=[column_values(Preset())])
    request = to_request(form)
    assert request is not None and request.samples == samples
    assert decode(f"prompt=hi&samples={samples}&v=1").samples == samples


@pytest.mark.parametrize("samples", [SAMPLES.choices()[0] - 1, SAMPLES.choices()[-1] + 1])
def test_samples_out_of_range_name_the_declared_range(client, samples):
    declared = f"between {SAMPLES.choices()[0]} and {SAMPLES.choices()[-1]}"
    assert declared in message_for(("body", "samples"), "less_than_equal")
    form = PlaygroundForm(prompt="hi", samples=str(samples), columns=[column_values(Preset())])
    assert to_request(form) is None and declared in form.errors["samples"]
    problems = decode(f"prompt=hi&samples={samples}&v=1").problems
    assert problems == [f"samples={samples} is not {SAMPLES.describe()}; {DEFAULT_SAMPLES} used"]
    answer = client.post("/api/compare", json={"prompt": "hi", "samples": samples, "presets": [{}]})
    assert answer.status_code == 422
    assert any(declared in d["msg"] for d in answer.json()["detail"] if d["field"] == "samples")


def test_the_samples_menu_offers_the_declared_range(client):
    html = client.get("/").text
    menu = re.search(r'<select name="samples">(.*?)</select>', html, re.S)
    assert menu is not None
    offered = [int(n) for n in re.findall(r'<option value="(\d+)"', menu.group(1))]
    assert offered == list(SAMPLES.choices())
    assert (offered[0], offered[-1]) == (SAMPLES.low, SAMPLES.high)
    assert f'value="{DEFAULT_SAMPLES}" selected' in menu.group(1)


def test_the_knob_inputs_carry_the_declared_range_and_step(client):
    html = client.get("/").text
    for knob in NUMBERS:
        found = re.search(rf'<input type="number"[^>]*name="p-0-{knob.name}"', html)
        assert found is not None, knob.name
        attributes = found.group(0)
        assert f'step="{knob.step}" min="{knob.low}" max="{knob.high}"' in attributes


@pytest.mark.parametrize("name", ["name", "endpoint", "model"])
def test_text_limits_are_read_by_the_model_the_messages_and_links(name):
    limit = MAX_CHARS[name]
    Preset.model_validate({name: "x" * limit})
    values = column_values(Preset()) | {name: "x" * (limit + 1)}
    form = PlaygroundForm(prompt="hi", columns=[values])
    assert to_request(form) is None
    assert f"({limit:,} characters at most)" in form.errors[f"p-0-{name}"]
    decoded = decode(f"prompt=hi&p={name}={'x' * (limit + 1)}&v=1")
    assert [f"preset 1: {name} was longer than {limit:,} characters and was cut"] == [
        p for p in decoded.problems if "longer" in p
    ]


def test_every_length_limit_has_a_name_in_messages():
    assert set(TEXT_NAMES) == set(MAX_CHARS)
    for name, limit in MAX_CHARS.items():
        assert f"{limit:,} characters" in message_for(("body", name), "string_too_long")


def test_the_stop_limit_is_the_declared_one():
    message = message_for(("body", "presets", 0, "stop"), "too_long")
    assert f"at most {MAX_STOP_SEQUENCES} stop sequences" in message
    link = "prompt=hi&p=A" + "".join(f";stop={i}" for i in range(MAX_STOP_SEQUENCES + 1))
    assert decode(link + "&v=1").presets[0].stop == [str(i) for i in range(MAX_STOP_SEQUENCES)]


# Columns as the fan-out makes them: real analysis over made-up samples.
answers = st.builds(
    lambda text, failed, cut, fingerprint: sample(
        text,
        error="boom" if failed else None,
        finish_reason="length" if cut else "stop",
        system_fingerprint=fingerprint,
    ),
    st.sampled_from(["A", "B", ""]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, "fp_a", "fp_b"]),
)
presets = st.builds(
    Preset,
    temperature=st.sampled_from([None, 0.0, 0.7]),
    seed=st.none() | st.just(7),
    max_tokens=st.none() | st.just(8),
)
columns = st.builds(column, presets, st.lists(answers, min_size=1, max_size=len(SAMPLES.choices())))


def rendered_kinds(shown: Any, index: int = 0) -> list[str]:
    html = templates.get_template("_flags.html").render(
        column=shown, flags=shown.flags, index=index, read_only=True
    )
    return re.findall(r'<li class="flag (\w+)"', html)


def exported_kinds(shown: Any) -> list[str]:
    parts = flags_text(shown).split(", ")
    # Longest label first: "unexpectedly nondeterministic" also ends in "nondeterministic".
    labels = sorted(FLAG_LABELS.items(), key=lambda item: -len(item[1]))
    return [next(k for k, label in labels if p.startswith(label)) for p in parts if p != "–"]


@settings(max_examples=200)
@given(st.lists(columns, min_size=1, max_size=MAX_PRESETS))
def test_page_export_and_history_show_the_same_flags(shown_columns):
    summary = summarize(make_run(columns=shown_columns))
    counted: dict[str, int] = {}
    for shown in shown_columns:
        kinds = flag_kinds(shown.flags, count_answered(shown.samples))
        assert rendered_kinds(shown) == kinds
        assert exported_kinds(shown) == kinds
        for kind in kinds:
            counted[kind] = counted.get(kind, 0) + 1
    for kind in ("truncated", "unexpected", "nondeterministic", "drift"):
        assert getattr(summary, kind) == counted.get(kind, 0), kind


@given(columns)
def test_unexpected_is_nondeterminism_where_repeatable_was_expected(shown):
    kinds = flag_kinds(shown.flags, count_answered(shown.samples))
    varied = len({s.text for s in shown.samples if s.error is None}) > 1
    expected = shown.preset.temperature == 0 or shown.preset.seed is not None
    assert ("unexpected" in kinds) == (varied and expected)
    assert ("nondeterministic" in kinds) == (varied and not expected)
    assert ("truncated" in kinds) == any(s.finish_reason == "length" for s in shown.samples)


def test_the_page_and_the_export_use_the_declared_labels():
    varied = column(Preset(temperature=0), [sample("A"), sample("B", system_fingerprint="fp")])
    html = templates.get_template("_flags.html").render(
        column=varied, flags=varied.flags, index=0, read_only=True
    )
    for kind in ("unexpected", "drift"):
        assert f"<strong>{FLAG_LABELS[kind].capitalize()}</strong>" in html
    assert flags_text(varied) == (
        f"{FLAG_LABELS['unexpected']}: 2 distinct of 2, {FLAG_LABELS['drift']}"
    )


def test_a_failed_sample_stands_alone_on_the_page_and_in_the_export():
    shown = column(Preset(), [sample("A"), sample("A", error="boom"), sample("A")])
    on_page = [g.indexes for g in templates.env.filters["sample_groups"](shown.samples)]
    in_export = [indexes for _, indexes in exports._answers(shown)]
    assert on_page == in_export == [[0, 2], [1]]
