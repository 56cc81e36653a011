"""The knob table in docs/results.md is the declared knobs: every one, its values and its help."""

from __future__ import annotations

from pathlib import Path

from app.engine.knobs import KNOBS, MAX_STOP_SEQUENCES, Knob

RESULTS = (Path(__file__).resolve().parent.parent / "docs" / "results.md").read_text()


def section(text: str, heading: str) -> str:
    """The text under a `## ` heading, up to the next one."""
    assert f"\n{heading}\n" in text, f"docs/results.md has no {heading!r}"
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def values(knob: Knob) -> str:
    # Written out for stop, so the docs are checked against the words, not only describe().
    return f"up to {MAX_STOP_SEQUENCES} strings" if knob.kind == "stop" else knob.describe()


def test_every_knob_has_its_row_in_the_docs():
    rows = [
        line for line in section(RESULTS, "## The knobs").splitlines() if line.startswith("| `")
    ]
    for knob in KNOBS:
        assert f"| `{knob.name}` | {values(knob)} | {knob.help} |" in rows, (
            "the knob table in docs/results.md does not say what app/engine/knobs.py says of "
            f"{knob.name}"
        )


def test_the_docs_explain_reasoning_models():
    reasoning = section(RESULTS, "## Reasoning models")
    for said in ("What was sent", "Budget spent on reasoning", "Setting refused", "Refused"):
        assert said in reasoning
