"""Hypothesis strategies built from the declared knobs, so tests never restate a range."""

from __future__ import annotations

from hypothesis import strategies as st

from app.engine.knobs import Knob


def knob_values(knob: Knob) -> st.SearchStrategy[float | int | str | bool]:
    """Every value the knob accepts (not `stop`, a list of strings)."""
    if knob.kind == "bool":
        return st.booleans()
    if knob.kind == "choice":
        return st.sampled_from(knob.options)
    if knob.kind == "int":
        return st.integers(_whole(knob.low), _whole(knob.high))
    return st.floats(knob.low, knob.high, allow_nan=False)


def _whole(bound: float | None) -> int | None:
    return None if bound is None else int(bound)
