"""Checks before any upstream call: caps on what one comparison may ask, and custom endpoints.

Every request costs money on a paid endpoint, so the worst case is bounded up front:
the prompt's size, and presets × samples × max_tokens. A preset's own endpoint must be
allowed at all, and must not point at an internal address.
"""

from __future__ import annotations

from collections.abc import Collection

from app.engine.presets import CompareRequest
from app.network.egress import EgressRefused, check_url
from app.settings import Settings

# An unset max_tokens leaves the length to the endpoint; for the budget assume this much.
UNSET_MAX_TOKENS_ESTIMATE = 4096


def token_budget(request: CompareRequest) -> int:
    """The most tokens this comparison could generate."""
    per_sample = sum(p.max_tokens or UNSET_MAX_TOKENS_ESTIMATE for p in request.presets)
    return per_sample * request.samples


def over_caps(
    request: CompareRequest, settings: Settings, endpoints: Collection[str] = ()
) -> dict[str, str]:
    """Problems by field ("prompt", "presets", "presets[i].…"); empty when it may run.
    `endpoints` are the configured endpoint names a preset may pick."""
    problems = {}
    size = len(request.prompt) + len(request.system or "")
    if size > settings.max_prompt_chars:
        problems["prompt"] = (
            f"The prompt and system message are {size:,} characters; the limit is "
            f"{settings.max_prompt_chars:,} (KNOBS_MAX_PROMPT_CHARS)."
        )
    for index, preset in enumerate(request.presets):
        if preset.endpoint is not None and preset.endpoint not in endpoints:
            known = ", ".join(endpoints) or "none"
            problems[f"presets[{index}].endpoint"] = (
                f"No endpoint is called {preset.endpoint!r} on this server (configured: {known})."
            )
        if preset.base_url is None:
            continue
        field = f"presets[{index}].base_url"
        if not settings.allow_custom_endpoints:
            problems[field] = (
                "Custom endpoints are off on this server; an admin can turn them on with "
                "KNOBS_ALLOW_CUSTOM_ENDPOINTS=true."
            )
            continue
        try:
            check_url(preset.base_url, settings.egress_policy)
        except EgressRefused as refused:
            problems[field] = str(refused)
    budget = token_budget(request)
    if budget > settings.max_tokens_per_comparison:
        problems["presets"] = (
            f"This comparison could generate up to {budget:,} tokens (samples × max_tokens "
            f"over all presets, an unset max_tokens counted as {UNSET_MAX_TOKENS_ESTIMATE:,}); "
            f"the limit is {settings.max_tokens_per_comparison:,} "
            "(KNOBS_MAX_TOKENS_PER_COMPARISON). Lower max_tokens, samples or presets."
        )
    return problems
