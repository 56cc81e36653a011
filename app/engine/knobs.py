"""Knobs: what a person can set, and every limit on it, each declared once.

The models (and so the JSON schema at /openapi.json), the validation messages, the link
decoder, the form and the templates all read these records; none writes a range again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

MAX_PRESETS = 8
# The page keeps at least this many columns: a comparison needs two sides. (The API and a
# rerun take a single preset.)
MIN_PRESETS = 2
MAX_STOP_SEQUENCES = 4
DEFAULT_SAMPLES = 2
# The longest text each field may hold; the models, the messages and the link decoder read it.
MAX_CHARS = {
    "name": 80,
    "endpoint": 40,
    "model": 200,
    "base_url": 2000,
    "api_key": 500,
    "prompt": 200_000,
    "system": 200_000,
}


@dataclass(frozen=True)
class Knob:
    """One setting a person sets: its range (or fixed choices), form step and a one-line
    explanation.

    The record is the only place a range is written: the models' fields (and so the JSON
    schema), the validation messages, the link decoder and the form's inputs all read it.
    A `choice` knob is one of `options`, sent as the string it is; a `bool` knob is true or
    false (its options, as the form and links write them), sent as a JSON boolean.
    """

    name: str
    label: str
    kind: Literal["float", "int", "stop", "choice", "bool"]
    low: float | None
    high: float | None
    step: str
    help: str
    options: tuple[str, ...] = ()
    # A boolean knob that must be true for this one to be sent (top_logprobs needs logprobs).
    needs: str | None = None

    def range_text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"between {knob_text(self.low)} and {knob_text(self.high)}"
        if self.low is not None:
            return f"at least {knob_text(self.low)}"
        return "a whole number"

    def describe(self) -> str:
        """What a valid value is, in words: `a whole number between 1 and 5`."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.options)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "stop":
            return f"up to {MAX_STOP_SEQUENCES} strings"
        return f"{'a whole number' if self.kind == 'int' else 'a number'} {self.range_text()}"

    def admits(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def choices(self) -> range:
        """Every value of a whole-number knob, for a menu such as the samples one."""
        if self.kind != "int" or self.low is None or self.high is None:
            raise ValueError(f"{self.name} is not a bounded whole number")
        return range(int(self.low), int(self.high) + 1)

    def field(self, default: Any = None, **extra: Any) -> Any:
        """The Pydantic field for this knob, bounds and help text included."""
        if self.kind == "stop":
            return Field(default=default, max_length=MAX_STOP_SEQUENCES, **extra)
        if self.kind == "choice":
            schema: dict[str, Any] = {"enum": [*self.options, None]}
            return Field(default=default, description=self.help, json_schema_extra=schema, **extra)
        if self.kind == "bool":
            return Field(default=default, description=self.help, **extra)
        return Field(default=default, ge=self.low, le=self.high, description=self.help, **extra)


def knob_text(value: float | int | str) -> str:
    """A value as written in form fields, messages, links and exports: numbers exact and short
    when round, booleans as JSON writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value).removesuffix(".0") if isinstance(value, float) else str(value)


KNOBS: tuple[Knob, ...] = (
    Knob(
        "temperature",
        "temperature",
        "float",
        0,
        2,
        "0.05",
        "0 = repeatable, ~1 = creative. Tune this or top_p, not both.",
    ),
    Knob(
        "top_p",
        "top_p",
        "float",
        0,
        1,
        "0.01",
        "Nucleus sampling: keep the smallest set of tokens whose probability adds up to this.",
    ),
    Knob(
        "top_k",
        "top_k",
        "int",
        1,
        1000,
        "1",
        "Keep only the k likeliest tokens. Not an OpenAI parameter; sent as an extra.",
    ),
    Knob(
        "max_tokens",
        "max_tokens",
        "int",
        1,
        32768,
        "1",
        "Longest answer in tokens. Too low and answers are cut off.",
    ),
    Knob(
        "frequency_penalty",
        "frequency_penalty",
        "float",
        -2,
        2,
        "0.1",
        "Positive values discourage repeating the same tokens often.",
    ),
    Knob(
        "presence_penalty",
        "presence_penalty",
        "float",
        -2,
        2,
        "0.1",
        "Positive values nudge the model towards new topics.",
    ),
    Knob(
        "seed",
        "seed",
        "int",
        0,
        2**63 - 1,
        "1",
        "Ask the endpoint for repeatable sampling (best effort on most servers).",
    ),
    Knob(
        "stop",
        "stop",
        "stop",
        None,
        None,
        "",
        f"Up to {MAX_STOP_SEQUENCES} strings, one per line; generation stops before any of them.",
    ),
    Knob(
        "reasoning_effort",
        "reasoning_effort",
        "choice",
        None,
        None,
        "",
        "Reasoning models: how long to think before answering. More effort, more tokens.",
        ("none", "minimal", "low", "medium", "high"),
    ),
    Knob(
        "verbosity",
        "verbosity",
        "choice",
        None,
        None,
        "",
        "Reasoning models (gpt-5 family): how long and detailed the answer should be.",
        ("low", "medium", "high"),
    ),
    Knob(
        "logprobs",
        "logprobs",
        "bool",
        None,
        None,
        "",
        "true: the endpoint returns each answer token's probability, shown on hover and focus.",
        ("true", "false"),
    ),
    Knob(
        "top_logprobs",
        "top_logprobs",
        "int",
        0,
        5,
        "1",
        "With logprobs: the k likeliest alternatives at each token, shown where samples split.",
        needs="logprobs",
    ),
)
KNOB_BY_NAME = {knob.name: knob for knob in KNOBS}
SAMPLES = Knob(
    "samples",
    "Samples per preset",
    "int",
    1,
    5,
    "1",
    "How many times each preset runs; differing samples show what sampling alone changes.",
)
# Sweeps (app/engine/sweeps/): one knob, or two for a grid, over a range of values. A sweep
# runs as one comparison with a preset per point, so it needs more points than a comparison
# has columns; its requests and tokens are capped in all (app/engine/sweeps/preflight.py).
MAX_SWEEP_KNOBS = 2
MAX_SWEEP_POINTS = 30
MAX_SWEEP_REQUESTS = 120
SWEEP_SAMPLES = Knob(
    "samples",
    "Samples per point",
    "int",
    1,
    10,
    "1",
    "How many times each point runs; the share of distinct answers is counted over these.",
)
# Evals (app/engine/evals/): every case under every preset, several samples each; their
# requests in all are capped by KNOBS_MAX_EVAL_REQUESTS (app/engine/evals/preflight.py).
EVAL_SAMPLES = Knob(
    "samples",
    "Samples per case",
    "int",
    1,
    10,
    "1",
    "How many times each preset answers each case; pass rates and pass@k count over these.",
)
