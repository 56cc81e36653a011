"""What a comparison produces: samples, columns and the whole run, in the API's shape."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.engine.agreement import Agreement
from app.engine.capabilities import Adjustment
from app.engine.dialects import TokenProb
from app.engine.flags import Flags
from app.engine.presets import Preset


class Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = Field(
        default=None, description="answer and reasoning tokens together"
    )
    total_tokens: int | None = None
    reasoning_tokens: int | None = Field(
        default=None,
        description="of completion_tokens, those spent on reasoning: as the endpoint reports "
        "them (completion_tokens_details), else the reasoning chunks counted; null without any",
    )
    cached_tokens: int | None = Field(
        default=None,
        description="of prompt_tokens, those the provider read from its cache "
        "(prompt_tokens_details.cached_tokens), priced lower where the provider does",
    )


class Sample(BaseModel):
    """One request's outcome. `error` is set when it failed; `text` keeps what arrived."""

    text: str = Field(default="", description="the answer")
    reasoning: str = Field(
        default="", description="the reasoning streamed before the answer, if the endpoint sent it"
    )
    refusal: str | None = Field(
        default=None, description="the model's refusal, when it refused instead of answering"
    )
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    queued_ms: float | None = Field(
        default=None,
        description="time the request waited for its turn before it was sent, because the "
        "endpoint takes only so many at once; not part of ttft_ms, latency_ms or "
        "tokens_per_second; null when it was sent at once",
    )
    ttft_ms: float | None = Field(
        default=None, description="time to the first answer token, from sending the request"
    )
    first_token_ms: float | None = Field(
        default=None, description="time to the first token of any kind, reasoning included"
    )
    latency_ms: float | None = Field(
        default=None, description="time from sending the request to its end, queue excluded"
    )
    tokens_per_second: float | None = Field(
        default=None,
        description="answer tokens per second while generating: the endpoint's own figure "
        "where it reports one (llama.cpp's timings), else counted from the first answer token",
    )
    prompt_ms: float | None = Field(
        default=None,
        description="the endpoint's own time reading the prompt, where it reports it "
        "(llama.cpp's timings.prompt_ms)",
    )
    generation_ms: float | None = Field(
        default=None,
        description="the endpoint's own time generating, where it reports it "
        "(llama.cpp's timings.predicted_ms)",
    )
    system_fingerprint: str | None = None
    model: str | None = None
    error: str | None = None
    # True when the stream ended early (error or Stop): the text is partial.
    incomplete: bool = False
    cost: float | None = Field(
        default=None,
        description="US dollars, from the column's price (see the column's `price`); null when "
        "the price or the token counts are unknown, never 0 for unknown",
    )
    logprobs: list[TokenProb] | None = Field(
        default=None,
        description="each answer token with its log probability and the likeliest "
        "alternatives, when the preset asked for logprobs and the endpoint sent them",
    )


class Column(BaseModel):
    preset: Preset
    samples: list[Sample]
    flags: Flags
    warnings: list[str] = Field(default_factory=list)
    # What the column actually used: the endpoint's name, and the model that answered
    # (the preset's own where the endpoint did not say).
    endpoint: str | None = None
    model: str | None = None
    adjustments: list[Adjustment] = Field(
        default_factory=list,
        description="parameters dropped or renamed so that the model accepts the request",
    )
    sent: str | None = Field(
        default=None,
        description="the JSON body of the column's first request exactly as sent (after the "
        "adjustments), as text so that it is byte for byte what went out; never the key",
    )
    agreement: Agreement | None = Field(
        default=None, description="how similar the column's answers are, and why"
    )
    cost: float | None = Field(
        default=None, description="US dollars, the samples together; null if any is unknown"
    )
    price: str | None = Field(default=None, description="where the price comes from")


class Comparison(BaseModel):
    system: str | None = None
    prompt: str
    columns: list[Column]
    cost: float | None = Field(
        default=None, description="US dollars, every column together; null if any is unknown"
    )
    agreement: list[list[float | None]] | None = Field(
        default=None,
        description="how similar each column's answers are to each other column's (0-1, mean "
        "word-level similarity over every pair of answers), in column order",
    )
