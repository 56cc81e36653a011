"""Sweeps' pure parts: ranges from the knobs' records, points, caps, measures, chart geometry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine.knobs import KNOB_BY_NAME, MAX_SWEEP_POINTS
from app.engine.presets import Preset
from app.engine.results import Comparison
from app.engine.sweeps.definition import SWEEPABLE, SweepRequest, values_in_range
from app.engine.sweeps.preflight import problems
from app.settings import Settings
from app.storage.sweeps import SavedSweep
from app.web.sweeps.chart import heatmap, line_panels
from app.web.sweeps.form import decode, encode, read_sweep_form, to_sweep
from tests.sample_runs import column, sample

TEMPERATURE = KNOB_BY_NAME["temperature"]


def test_a_range_is_inclusive_and_exact_enough_to_read():
    assert values_in_range(TEMPERATURE, "0", "1.2", "0.3") == [0.0, 0.3, 0.6, 0.9, 1.2]
    assert values_in_range(KNOB_BY_NAME["max_tokens"], "16", "64", "16") == [16, 32, 48, 64]


@pytest.mark.parametrize(
    ("start", "stop", "step", "message"),
    [
        ("0", "3", "1", "temperature must be a number between 0 and 2; 3 is not"),
        ("1", "0", "0.1", "'to' (0) is below 'from' (1)"),
        ("0", "1", "0", "the step must be a number above 0"),
        ("0", "2", "0.0001", "20001 values from 0 to 2 every 0.0001; a sweep has at most 30"),
    ],
)
def test_a_bad_range_says_why(start, stop, step, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        values_in_range(TEMPERATURE, start, stop, step)


@given(
    start=st.floats(0, 2),
    span=st.floats(0, 2),
    step=st.floats(0.001, 2),
)
def test_a_range_never_leaves_the_knob_or_the_cap(start, span, step):
    stop = min(start + span, 2)
    try:
        values = values_in_range(TEMPERATURE, repr(start), repr(stop), repr(step))
    except ValueError:
        return
    assert 1 <= len(values) <= MAX_SWEEP_POINTS
    assert all(isinstance(v, float) and TEMPERATURE.admits(v) for v in values)
    assert values == sorted(values)


def test_a_grid_runs_every_combination_with_the_base_knobs():
    sweep = SweepRequest.model_validate(
        {
            "prompt": "Hi",
            "base": {"max_tokens": 20, "temperature": 0.5},
            "vary": [
                {"knob": "temperature", "values": [1, 0]},
                {"knob": "reasoning_effort", "values": ["low", "high"]},
            ],
        }
    ).comparison()
    assert [p.name for p in sweep.presets] == [
        "temperature=0 · reasoning_effort=low",
        "temperature=0 · reasoning_effort=high",
        "temperature=1 · reasoning_effort=low",
        "temperature=1 · reasoning_effort=high",
    ]
    assert {p.max_tokens for p in sweep.presets} == {20}
    assert not problems(sweep, Settings())


def test_an_unknown_endpoint_is_named_at_the_base_preset():
    sweep = SweepRequest.model_validate(
        {"prompt": "Hi", "base": {"endpoint": "nope"}, "vary": [{"knob": "top_k", "values": [1]}]}
    ).comparison()
    found = problems(sweep, Settings(), ["default"])
    assert list(found) == ["base.endpoint"]
    assert "No endpoint is called 'nope'" in found["base.endpoint"]


def test_every_knob_offered_can_be_swept_and_logprobs_is_not_offered():
    # logprobs (true or false) was offered, and every value it could take was refused.
    with pytest.raises(ValueError, match="'logprobs' cannot be swept"):
        SweepRequest.model_validate(
            {"prompt": "Hi", "vary": [{"knob": "logprobs", "values": [True, False]}]}
        )
    for knob in SWEEPABLE:
        low = knob.options[0] if knob.kind == "choice" else knob.low or 0
        sweep = SweepRequest.model_validate(
            {"prompt": "Hi", "vary": [{"knob": knob.name, "values": [low]}]}
        )
        assert sweep.vary[0].values == [low]


def saved(vary, columns) -> SavedSweep:
    request = SweepRequest.model_validate({"prompt": "Hi", "samples": 2, "vary": vary})
    sweep = request.comparison()

    return SavedSweep.from_comparison(sweep, Comparison(prompt="Hi", columns=columns))


def test_measures_and_the_line_chart_follow_the_answers():
    same = column(Preset(), [sample("a"), sample("a")])
    differ = column(Preset(), [sample("a"), sample("b", finish_reason="length")])
    sweep = saved([{"knob": "temperature", "values": [0, 1]}], [same, differ])
    assert sweep.points[0].stats.distinct_share == 0.5
    assert sweep.points[1].stats.distinct_share == 1.0
    assert sweep.points[1].stats.truncated_share == 0.5
    shares = line_panels(sweep)[0]
    lines = {s.measure.name: s for s in shares.series}
    low, high = lines["distinct_share"].dots
    assert high.y < low.y  # more distinct answers, higher on the chart
    assert (low.text, high.text) == ("50%", "100%")
    assert "agreement" not in lines  # nothing to draw until agreement is known


def test_heatmap_puts_the_first_knob_in_rows():
    columns = [column(Preset(), [sample(str(i)), sample("x")]) for i in range(4)]
    vary = [{"knob": "temperature", "values": [0, 1]}, {"knob": "top_k", "values": [5, 50]}]
    grid = heatmap(saved(vary, columns), "distinct_share")
    assert [t.label for t in grid.rows] == ["0", "1"]
    assert [t.label for t in grid.columns] == ["5", "50"]
    assert [(c.x, c.y) for c in grid.cells][1] == (
        grid.cells[0].x + grid.cell_width,
        grid.cells[0].y,
    )


def test_the_form_link_round_trips():
    data = {
        "prompt": "Hi; there & more",
        "system": "Be brief.",
        "samples": "4",
        "p-0-max_tokens": "48",
        "v-0-knob": "temperature",
        "v-0-values": "0, 0.5",
        "v-1-knob": "top_k",
        "v-1-from": "1",
        "v-1-to": "3",
        "v-1-step": "1",
    }
    form = read_sweep_form(data)
    back, problems_found = decode(encode(form))
    assert problems_found == []
    assert back == form
    sweep = to_sweep(back)
    assert sweep is not None and len(sweep.presets) == 6


def test_a_damaged_link_restores_what_it_can():
    form, found = decode("prompt=Hi&vary=stop:x&vary=top_p:0.5,0.9&zzz=1&p=;temperature=9")
    assert form.prompt == "Hi"
    assert form.vary[0]["knob"] == "top_p"
    assert any("stop" in p for p in found) and any("zzz" in p for p in found)
    assert any("temperature" in p for p in found)
