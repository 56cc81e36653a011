"""Presets: the knobs, their allowed ranges, the built-in presets and the lints on them.

A knob left unset (None) is not sent to the endpoint at all, so the endpoint's own
default applies. That is different from sending the default value, and users rely on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


@dataclass(frozen=True)
class Knob:
    """One generation setting: its range and a one-line explanation for the page."""

    name: str
    label: str
    kind: Literal["float", "int", "stop"]
    low: float | None
    high: float | None
    step: str
    help: str

    def range_text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"between {_num(self.low)} and {_num(self.high)}"
        if self.low is not None:
            return f"at least {_num(self.low)}"
        return "a whole number"


def knob_text(value: float | int | str) -> str:
    """A knob value as written in form fields, links and exports: exact, short when round."""
    return repr(value).removesuffix(".0") if isinstance(value, float) else str(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


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
        "Up to 4 strings, one per line; generation stops before any of them.",
    ),
)
KNOB_BY_NAME = {knob.name: knob for knob in KNOBS}
MAX_PRESETS = 8
MAX_STOP_SEQUENCES = 4


class Preset(BaseModel):
    """One column: a name, a model and the knobs. None means "not sent"."""

    # Strict: `true` is not a number, "0.5" is not a float; the form converts before this.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(default=None, max_length=80)
    # One of the endpoints the admin configured, by name; None is the default one.
    endpoint: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=1, le=1000)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    stop: list[str] | None = Field(
        default=None,
        max_length=MAX_STOP_SEQUENCES,
        description="Up to 4 stop sequences; a single string is taken as a list of one, and "
        "empty strings are dropped.",
    )
    # A preset's own endpoint, when the admin allows it (KNOBS_ALLOW_CUSTOM_ENDPOINTS).
    # The key is the user's own; it is never saved, shared, shown or logged.
    base_url: str | None = Field(default=None, max_length=2000)
    api_key: SecretStr | None = Field(default=None, max_length=500, exclude=True, repr=False)

    @field_validator("temperature", "top_p", "frequency_penalty", "presence_penalty")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        # The OpenAI API takes a string or a list; we keep a list, without empty entries.
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = [s for s in value if s != ""] or None  # non-strings are refused below
        return value

    @field_validator("name", "endpoint", "model", "base_url", "api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def settings_key(self) -> str:
        """Everything that shapes the answers, for spotting two identical columns."""
        return self.model_dump_json(exclude={"name"})

    def knobs(self) -> dict[str, Any]:
        """The knobs that are set, by name, in KNOBS order."""
        return {k.name: getattr(self, k.name) for k in KNOBS if getattr(self, k.name) is not None}

    def expects_repeatable(self) -> bool:
        """True where people expect identical answers run after run: T=0 or a fixed seed."""
        return self.temperature == 0 or self.seed is not None

    def title(self, index: int) -> str:
        return self.name or f"Preset {index + 1}"


class CompareRequest(BaseModel):
    """One comparison: a prompt run under each preset, several samples each."""

    # Strict: `true` is not a number, "0.5" is not a float; the form converts before this.
    model_config = ConfigDict(extra="forbid", strict=True)

    # Hard limits; KNOBS_MAX_PROMPT_CHARS sets the working one (app/engine/caps.py).
    system: str | None = Field(default=None, max_length=200_000)
    prompt: str = Field(min_length=1, max_length=200_000)
    samples: int = Field(default=2, ge=1, le=5)
    presets: list[Preset] = Field(min_length=1, max_length=MAX_PRESETS)

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("write a prompt to compare")
        return value

    @field_validator("system", mode="before")
    @classmethod
    def _blank_system(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def builtin_presets() -> list[Preset]:
    """The four columns a new page starts with."""
    return [
        Preset(name="Deterministic", temperature=0),
        Preset(name="Precise", temperature=0.2),
        Preset(name="Balanced", temperature=0.7),
        Preset(name="Creative", temperature=1.0),
    ]


def nucleus_preset() -> Preset:
    """Nucleus sampling alone: top_p trims the tail, temperature left to the endpoint."""
    return Preset(name="Nucleus", top_p=0.9)


def lint(preset: Preset) -> list[str]:
    """Warnings about settings people commonly get wrong; they never block a run."""
    warnings = []
    changed_temperature = preset.temperature is not None and preset.temperature != 1
    changed_top_p = preset.top_p is not None and preset.top_p != 1
    if changed_temperature and changed_top_p:
        warnings.append(
            "temperature and top_p both changed — tune one at a time, "
            "or you cannot tell which one made the difference"
        )
    if preset.max_tokens is not None and preset.max_tokens < 32:
        warnings.append(
            f"max_tokens={preset.max_tokens} is below 32 and will likely cut answers off"
        )
    if preset.temperature is not None and preset.temperature > 1.5:
        warnings.append(
            f"temperature={_num(preset.temperature)} is above 1.5; most models ramble or "
            "produce gibberish there"
        )
    return warnings


def lint_all(presets: list[Preset]) -> list[list[str]]:
    """Per-preset warnings, including ones that compare a preset with the others."""
    warnings = [lint(p) for p in presets]
    seen: dict[str, int] = {}
    for index, preset in enumerate(presets):
        key = preset.settings_key()
        if key in seen:
            warnings[index].append(
                f"same settings as {presets[seen[key]].title(seen[key])} — "
                "raise the sample count to see run-to-run variation instead"
            )
        else:
            seen[key] = index
    return warnings


def request_params(preset: Preset) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a preset into OpenAI keyword arguments and the extra body (top_k lives there)."""
    params = preset.knobs()
    extra = {"top_k": params.pop("top_k")} if "top_k" in params else {}
    return params, extra
