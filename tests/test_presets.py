"""Presets: ranges, unset knobs, top_k as an extra, lints and the form round trip."""

import pytest
from pydantic import ValidationError

from app.engine.presets import (
    CompareRequest,
    Preset,
    builtin_presets,
    lint,
    lint_all,
    request_params,
)
from app.web.forms import PlaygroundForm, column_values, read_form, to_request


def test_builtin_presets_are_the_documented_four():
    presets = builtin_presets()
    assert [(p.name, p.temperature) for p in presets] == [
        ("Deterministic", 0),
        ("Precise", 0.2),
        ("Balanced", 0.7),
        ("Creative", 1.0),
    ]


def test_unset_knobs_are_left_out_and_top_k_goes_to_the_extra_body():
    params, extra = request_params(
        Preset.model_validate({"temperature": 0.5, "top_k": 40, "stop": "END"})
    )
    assert params == {"temperature": 0.5, "stop": ["END"]}
    assert extra == {"top_k": 40}
    assert request_params(Preset()) == ({}, {})


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("temperature", -0.1),
        ("temperature", 2.01),
        ("top_p", 1.5),
        ("top_p", -1),
        ("max_tokens", 0),
        ("top_k", 0),
        ("frequency_penalty", 3),
        ("presence_penalty", -2.5),
        ("temperature", float("nan")),
        ("temperature", float("inf")),
        ("seed", -1),
    ],
)
def test_out_of_range_knobs_are_refused(knob, value):
    with pytest.raises(ValidationError):
        Preset(**{knob: value})


def test_limits_on_the_request():
    one = [Preset()]
    with pytest.raises(ValidationError):
        CompareRequest(prompt="   ", presets=one)
    with pytest.raises(ValidationError):
        CompareRequest(prompt="hi", presets=[Preset()] * 9)
    with pytest.raises(ValidationError):
        CompareRequest(prompt="hi", samples=6, presets=one)
    assert CompareRequest(prompt="hi", presets=one).samples == 2


def test_lints_catch_the_common_mistakes():
    assert any("tune one at a time" in w for w in lint(Preset(temperature=0.7, top_p=0.9)))
    assert lint(Preset(temperature=0.7)) == []
    assert lint(Preset(top_p=0.9)) == []
    assert any("below 32" in w for w in lint(Preset(max_tokens=16)))
    assert lint(Preset(max_tokens=32)) == []
    twins = lint_all([Preset(name="a", temperature=0), Preset(name="b", temperature=0)])
    assert twins[0] == [] and "same settings as a" in twins[1][0]


def test_form_round_trip_keeps_unset_knobs_unset():
    presets = [Preset(name="x", temperature=0.3, stop=["a", "b"]), Preset(name="y", top_k=5)]
    form = PlaygroundForm.from_presets(presets, prompt="hello")
    fields = {"prompt": form.prompt, "samples": "3"}
    for i, values in enumerate(form.columns):
        fields.update({f"p-{i}-{k}": v for k, v in values.items()})
    request = to_request(read_form(fields))
    assert request is not None
    assert request.samples == 3
    assert request.presets == presets


def test_form_errors_are_keyed_by_the_field_that_caused_them():
    values = column_values(Preset(name="x"))
    values["temperature"] = "5"
    values["max_tokens"] = "lots"
    form = PlaygroundForm(prompt="", columns=[column_values(Preset()), values])
    assert to_request(form) is None
    assert "between 0 and 2" in form.errors["p-1-temperature"]
    assert "whole number" in form.errors["p-1-max_tokens"]
    assert form.errors["prompt"] == "Write a prompt to compare."
    assert "p-0-temperature" not in form.errors
