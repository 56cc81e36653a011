"""What a comparison produces: samples, columns and the whole run, in the API's shape."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.engine.analysis import Flags
from app.engine.presets import Preset


class Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class Sample(BaseModel):
    """One request's outcome. `error` is set when it failed; `text` keeps what arrived."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    ttft_ms: float | None = None
    latency_ms: float | None = None
    tokens_per_second: float | None = None
    system_fingerprint: str | None = None
    model: str | None = None
    error: str | None = None
    # True when the stream ended early (error or Stop): the text is partial.
    incomplete: bool = False


class Column(BaseModel):
    preset: Preset
    samples: list[Sample]
    flags: Flags
    warnings: list[str] = Field(default_factory=list)
    # What the column actually used: the endpoint's name, and the model that answered
    # (the preset's own where the endpoint did not say).
    endpoint: str | None = None
    model: str | None = None


class Comparison(BaseModel):
    system: str | None = None
    prompt: str
    columns: list[Column]
