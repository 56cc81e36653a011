"""The README's knob table is the declared knobs: every one, its values and its help."""

from __future__ import annotations

from pathlib import Path

from app.engine.knobs import KNOBS, MAX_STOP_SEQUENCES, Knob

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def values(knob: Knob) -> str:
    # Written out for stop, so the README is checked against the words, not only describe().
    return f"up to {MAX_STOP_SEQUENCES} strings" if knob.kind == "stop" else knob.describe()


def test_every_knob_has_its_row_in_the_readme():
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    for knob in KNOBS:
        assert f"| `{knob.name}` | {values(knob)} | {knob.help} |" in rows, (
            f"README.md's knob table does not say what app/engine/knobs.py says of {knob.name}"
        )


def test_the_readme_explains_reasoning_models():
    assert "## Reasoning models" in README
    for said in ("What was sent", "Budget spent on reasoning", "Setting refused", "Refused"):
        assert said in README
