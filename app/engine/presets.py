"""Presets: one column's settings, the comparison request, the built-in presets and lints.

The knobs and their ranges are declared in app/engine/knobs.py; the fields here are built
from those records.

A knob left unset (None) is not sent to the endpoint at all, so the endpoint's own
default applies. That is different from sending the default value, and users rely on it.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from app.engine.knobs import (
    DEFAULT_SAMPLES,
    KNOB_BY_NAME,
    KNOBS,
    MAX_CHARS,
    MAX_PRESETS,
    MAX_STOP_SEQUENCES,
    SAMPLES,
    knob_text,
)


class Preset(BaseModel):
    """One column: a name, a model and the knobs. None means "not sent"."""

    # Strict: `true` is not a number, "0.5" is not a float; the form converts before this.
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(default=None, max_length=MAX_CHARS["name"])
    # One of the endpoints the admin configured, by name; None is the default one.
    endpoint: str | None = Field(default=None, max_length=MAX_CHARS["endpoint"])
    model: str | None = Field(default=None, max_length=MAX_CHARS["model"])
    # Bounds and help come from KNOBS; tests/test_facts.py checks each type matches its kind.
    temperature: float | None = KNOB_BY_NAME["temperature"].field()
    top_p: float | None = KNOB_BY_NAME["top_p"].field()
    top_k: int | None = KNOB_BY_NAME["top_k"].field()
    max_tokens: int | None = KNOB_BY_NAME["max_tokens"].field()
    frequency_penalty: float | None = KNOB_BY_NAME["frequency_penalty"].field()
    presence_penalty: float | None = KNOB_BY_NAME["presence_penalty"].field()
    seed: int | None = KNOB_BY_NAME["seed"].field()
    stop: list[str] | None = KNOB_BY_NAME["stop"].field(
        description=f"Up to {MAX_STOP_SEQUENCES} stop sequences; a single string is taken as a "
        "list of one, and empty strings are dropped.",
    )
    reasoning_effort: str | None = KNOB_BY_NAME["reasoning_effort"].field()
    verbosity: str | None = KNOB_BY_NAME["verbosity"].field()
    logprobs: bool | None = KNOB_BY_NAME["logprobs"].field()
    top_logprobs: int | None = KNOB_BY_NAME["top_logprobs"].field()
    # A preset's own endpoint, when the admin allows it (KNOBS_ALLOW_CUSTOM_ENDPOINTS).
    # The key is the user's own; it is never saved, shared, shown or logged.
    base_url: str | None = Field(default=None, max_length=MAX_CHARS["base_url"])
    api_key: SecretStr | None = Field(
        default=None, max_length=MAX_CHARS["api_key"], exclude=True, repr=False
    )

    @field_validator(*(k.name for k in KNOBS if k.kind == "float"))
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator(*(k.name for k in KNOBS if k.kind == "choice"))
    @classmethod
    def _one_of(cls, value: str | None, info: ValidationInfo) -> str | None:
        assert info.field_name is not None
        if value is not None and value not in KNOB_BY_NAME[info.field_name].options:
            raise ValueError(KNOB_BY_NAME[info.field_name].describe())
        return value

    @field_validator(*(k.name for k in KNOBS if k.needs))
    @classmethod
    def _needs(cls, value: Any, info: ValidationInfo) -> Any:
        # Endpoints refuse top_logprobs without logprobs: say so at the field, before a run.
        assert info.field_name is not None
        needed = KNOB_BY_NAME[info.field_name].needs
        if value is not None and needed and info.data.get(needed) is not True:
            raise ValueError(f"{info.field_name} needs {needed} set to true")
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

    # Hard limits; KNOBS_MAX_PROMPT_CHARS sets the working one (app/engine/preflight.py).
    system: str | None = Field(default=None, max_length=MAX_CHARS["system"])
    prompt: str = Field(min_length=1, max_length=MAX_CHARS["prompt"])
    samples: int = SAMPLES.field(DEFAULT_SAMPLES)
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

    def chat_messages(self) -> list[dict[str, str]]:
        """What the endpoint is sent: the system message, if any, then the prompt. (An eval's
        case may be a whole conversation: app/engine/evals/definition.py.)"""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        return [*messages, {"role": "user", "content": self.prompt}]


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


def effort_presets() -> list[Preset]:
    """For reasoning models: the same question at three efforts, every other knob unset
    (these models refuse most of the sampling knobs anyway)."""
    return [Preset(name=f"Effort: {e}", reasoning_effort=e) for e in ("low", "medium", "high")]


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
            f"temperature={knob_text(preset.temperature)} is above 1.5; most models ramble or "
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
