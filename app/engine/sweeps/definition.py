"""Sweeps: one knob (or two, for a grid) over a range of values, N samples per point.

A sweep is a comparison with one preset per point — the base preset with the varied knobs
set — so it runs through the same fan-out, limits and retries as any comparison
(app/web/sweeps/pages.py). `SweepComparison` is that comparison: a `CompareRequest` whose presets
are capped at MAX_SWEEP_POINTS instead of MAX_PRESETS and which remembers what was varied.
Its requests in all are capped at MAX_SWEEP_REQUESTS, and its tokens count against the same
KNOBS_MAX_TOKENS_PER_COMPARISON as a comparison's (app/engine/sweeps/preflight.py). Ranges and
messages come from the knobs' own records (app/engine/knobs.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from app.engine.knobs import (
    KNOB_BY_NAME,
    KNOBS,
    MAX_CHARS,
    MAX_SWEEP_KNOBS,
    MAX_SWEEP_POINTS,
    SWEEP_SAMPLES,
    Knob,
    knob_text,
)
from app.engine.presets import CompareRequest, Preset

Value = float | int | str
# Every knob but the stop sequences, which have no order to sweep along, and logprobs (on or
# off), which changes what comes back about an answer, not the answer a sweep measures.
SWEEPABLE: tuple[Knob, ...] = tuple(k for k in KNOBS if k.kind not in ("stop", "bool"))
DEFAULT_SWEEP_SAMPLES = 3
# The error type whose message app/web/validation.py shows as it is written here.
MESSAGE = "knobs_message"


def refused(message: str) -> PydanticCustomError:
    return PydanticCustomError(MESSAGE, message)


def knob_value(knob: Knob, raw: object) -> Value:
    """`raw` as a value of `knob`, or ValueError saying what the knob takes."""
    wrong = ValueError(f"{knob.name} must be {knob.describe()}; {_show(raw)} is not")
    if knob.kind == "choice":
        if raw not in knob.options:
            raise wrong
        return str(raw)
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raise wrong from None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise wrong
    if knob.kind == "int":
        if raw != int(raw):
            raise wrong
        raw = int(raw)
    else:
        raw = float(raw)
    if not knob.admits(raw):
        raise wrong
    return raw


def _show(raw: object) -> str:
    return knob_text(raw) if isinstance(raw, int | float | str) else repr(raw)


def values_in_range(knob: Knob, start: str, stop: str, step: str) -> list[Value]:
    """The values from `start` to `stop` (inclusive) every `step`; ValueError says why not."""
    if knob.kind == "choice":
        raise ValueError(f"{knob.name} is one of {', '.join(knob.options)}: list the values")
    low, high = knob_value(knob, start), knob_value(knob, stop)
    try:
        every = float(step)
    except ValueError:
        raise ValueError(f"the step must be a number; {step!r} is not") from None
    if not math.isfinite(every) or every <= 0:
        raise ValueError("the step must be a number above 0")
    if knob.kind == "int" and every != int(every):
        raise ValueError(f"{knob.name} is a whole number: the step must be one too")
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if high < low:
        raise ValueError(f"'to' ({knob_text(high)}) is below 'from' ({knob_text(low)})")
    # Counted before any value is made: a tiny step must not build a million points.
    count = math.floor((high - low) / every + 1e-9) + 1
    if count > MAX_SWEEP_POINTS:
        raise ValueError(
            f"{count} values from {knob_text(low)} to {knob_text(high)} every "
            f"{knob_text(every)}; a sweep has at most {MAX_SWEEP_POINTS} points"
        )
    if knob.kind == "int":
        return [int(low + i * every) for i in range(count)]
    return [round(low + i * every, 10) for i in range(count)]


class Vary(BaseModel):
    """One knob the sweep varies, and the values it takes (sorted when they are numbers)."""

    model_config = ConfigDict(extra="forbid")

    knob: str = Field(
        description="the knob to vary", json_schema_extra={"enum": [k.name for k in SWEEPABLE]}
    )
    values: list[float | int | str] = Field(
        min_length=1,
        max_length=MAX_SWEEP_POINTS,
        description="the values it takes, each within the knob's range",
    )

    @field_validator("knob")
    @classmethod
    def _sweepable(cls, name: str) -> str:
        if name not in {k.name for k in SWEEPABLE}:
            names = ", ".join(k.name for k in SWEEPABLE)
            raise refused(f"{name!r} cannot be swept; choose one of {names}.")
        return name

    @field_validator("values", mode="before")
    @classmethod
    def _in_range(cls, raw: Any, info: ValidationInfo) -> Any:
        knob = KNOB_BY_NAME.get(info.data.get("knob", ""))
        if knob is None or not isinstance(raw, list):
            return raw  # an unknown knob is reported on its own field
        values = []
        for item in raw:
            try:
                values.append(knob_value(knob, item))
            except ValueError as error:
                raise refused(f"{error}.") from None
        if len(set(values)) < len(values):
            raise refused(f"{knob.name}: each value once, please.")
        return values if knob.kind == "choice" else sorted(values)


class SweepRequest(BaseModel):
    """A sweep as asked for: the base preset, what to vary, how many samples per point."""

    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(default=None, max_length=MAX_CHARS["system"])
    prompt: str = Field(min_length=1, max_length=MAX_CHARS["prompt"])
    samples: int = SWEEP_SAMPLES.field(DEFAULT_SWEEP_SAMPLES)
    base: Preset = Field(
        default_factory=Preset, description="the settings every point shares; knobs unset, unsent"
    )
    vary: list[Vary] = Field(
        min_length=1,
        max_length=MAX_SWEEP_KNOBS,
        description=f"one knob, or two for a grid; {MAX_SWEEP_POINTS} points at most in all",
    )

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise refused("Write a prompt to sweep.")
        return value

    @field_validator("system", mode="before")
    @classmethod
    def _blank_system(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("samples", mode="before")
    @classmethod
    def _samples(cls, value: Any) -> Any:
        ok = isinstance(value, int) and not isinstance(value, bool) and SWEEP_SAMPLES.admits(value)
        if not ok:
            raise refused(f"{SWEEP_SAMPLES.label} must be {SWEEP_SAMPLES.describe()}.")
        return value

    @field_validator("vary")
    @classmethod
    def _one_grid(cls, vary: list[Vary]) -> list[Vary]:
        if len({v.knob for v in vary}) < len(vary):
            raise refused("Vary two different knobs, or one.")
        points = math.prod(len(v.values) for v in vary)
        if points > MAX_SWEEP_POINTS:
            sizes = " × ".join(str(len(v.values)) for v in vary)
            raise refused(f"{sizes} = {points} points; a sweep has at most {MAX_SWEEP_POINTS}.")
        return vary

    def comparison(self) -> SweepComparison:
        """The comparison that runs it: one preset per point, in grid order."""
        return SweepComparison(
            system=self.system,
            prompt=self.prompt,
            samples=self.samples,
            presets=[point_preset(self.base, values) for values in points_of(self.vary)],
            base=self.base,
            vary=self.vary,
        )


class SweepComparison(CompareRequest):
    """A sweep as the fan-out runs it: a comparison with one preset per point."""

    samples: int = SWEEP_SAMPLES.field(DEFAULT_SWEEP_SAMPLES)
    presets: list[Preset] = Field(min_length=1, max_length=MAX_SWEEP_POINTS)
    base: Preset
    vary: list[Vary] = Field(min_length=1, max_length=MAX_SWEEP_KNOBS)

    def points(self) -> list[dict[str, Value]]:
        """Each point's varied knobs, in the order of `presets`."""
        return points_of(self.vary)


def points_of(vary: list[Vary]) -> list[dict[str, Value]]:
    """Every combination, the first knob's values outermost (rows of a grid)."""
    names = [v.knob for v in vary]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(v.values for v in vary))
    ]


def point_preset(base: Preset, values: dict[str, Value]) -> Preset:
    """The base preset with this point's knobs set, named after them."""
    return base.model_copy(update={**values, "name": point_label(values)})


def point_label(values: dict[str, Value]) -> str:
    return " · ".join(f"{name}={knob_text(value)}" for name, value in values.items())


@dataclass(frozen=True)
class BuiltinSweep:
    """A sweep one click away: the knob and its values; the rest comes from the form."""

    title: str
    knob: str
    values: tuple[Value, ...]
    reasoning: bool = False


BUILTIN_SWEEPS = (
    BuiltinSweep("temperature 0 → 1.2", "temperature", (0.0, 0.3, 0.6, 0.9, 1.2)),
    BuiltinSweep("top_p 0.5 → 1", "top_p", (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)),
    BuiltinSweep(
        "max_tokens 16 → 512 (where do answers stop being cut off?)",
        "max_tokens",
        (16, 32, 64, 128, 256, 512),
    ),
    BuiltinSweep(
        "reasoning_effort (reasoning models)",
        "reasoning_effort",
        KNOB_BY_NAME["reasoning_effort"].options[1:],
        reasoning=True,
    ),
)
