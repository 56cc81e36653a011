"""What a sample costs, in US dollars, and where that price comes from.

In order: the embedded model is free; a price the admin states for the endpoint and model in
the endpoints TOML (`[endpoints.NAME.prices."MODEL or glob"] input = 0.15, output = 0.6`, in
dollars per million tokens); else the `genai-prices` table (maintained by Pydantic, bundled
with the package: nothing is fetched at run time), by the provider its base URL names and the
model. Otherwise the price is unknown: None, shown as "–", never 0. Reasoning tokens are part
of completion_tokens and priced as output, as OpenAI, Anthropic and Google bill them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import genai_prices
from pydantic import BaseModel, ConfigDict, Field

from app.engine.results import Usage

PER_MILLION = 1_000_000


class ModelPrice(BaseModel):
    """A price the admin states, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", strict=True)

    input: float = Field(ge=0, description="per million prompt tokens")
    output: float = Field(ge=0, description="per million completion tokens, reasoning included")
    cached_input: float | None = Field(
        default=None, ge=0, description="per million prompt tokens read from cache; else input"
    )


@dataclass(frozen=True)
class PriceList:
    """How one endpoint's samples are priced."""

    base_url: str | None = None
    stated: tuple[tuple[str, ModelPrice], ...] = ()
    free: bool = False  # the embedded model, which runs on this machine

    def _stated(self, model: str) -> ModelPrice | None:
        return next((p for glob, p in self.stated if fnmatch.fnmatchcase(model, glob)), None)

    def cost(self, usage: Usage, model: str | None) -> float | None:
        """What `usage` costs with `model`; None when the price or the token counts are unknown."""
        if self.free:
            return 0.0
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        if model is None or prompt is None or completion is None:
            return None
        cached = min(usage.cached_tokens or 0, prompt)
        if (price := self._stated(model)) is not None:
            cached_price = price.input if price.cached_input is None else price.cached_input
            paid = (prompt - cached) * price.input + cached * cached_price
            return (paid + completion * price.output) / PER_MILLION
        if self.base_url is None:
            return None
        counted = genai_prices.Usage(
            input_tokens=prompt, cache_read_tokens=cached, output_tokens=completion
        )
        try:
            quote = genai_prices.calc_price(counted, model, provider_api_url=self.base_url)
        except LookupError:
            return None
        return float(quote.total_price)

    def source(self, model: str | None) -> str:
        """Where the price comes from, in one line for the page."""
        if self.free:
            return "the embedded model runs on this machine: free"
        if model is not None and (price := self._stated(model)) is not None:
            return (
                f"as the endpoints configuration states for {model}: ${price.input:g} per "
                f"million prompt tokens, ${price.output:g} per million completion tokens"
            )
        probe = Usage(prompt_tokens=PER_MILLION, completion_tokens=PER_MILLION)
        if model is not None and self.cost(probe, model) is not None:
            return f"{model} at its provider's list price (the genai-prices table)"
        return f"no price known for {model or 'this model'} at this endpoint"


def total(costs: Sequence[float | None]) -> float | None:
    """The sum, or None when any part is unknown: an unknown part is not a zero."""
    if any(c is None for c in costs):
        return None
    return sum(c for c in costs if c is not None)
