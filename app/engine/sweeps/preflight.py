"""Before a sweep runs: what it will send, and whether it may.

A sweep is capped as a comparison is (app/engine/preflight.py: the prompt's size, the endpoints,
the tokens against KNOBS_MAX_TOKENS_PER_COMPARISON), its problems named by the sweep's own
fields, and in its requests in all (MAX_SWEEP_REQUESTS, app/engine/knobs.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from app.engine.knobs import MAX_SWEEP_REQUESTS
from app.engine.preflight import UNSET_MAX_TOKENS_ESTIMATE, over_caps, token_budget
from app.engine.sweeps.definition import SweepComparison
from app.settings import Settings


@dataclass(frozen=True)
class Preview:
    """What a sweep will send before anything runs."""

    points: int
    samples: int
    requests: int
    max_tokens: int
    unset_max_tokens: bool


def preview(sweep: SweepComparison) -> Preview:
    points = len(sweep.presets)
    return Preview(
        points,
        sweep.samples,
        points * sweep.samples,
        token_budget(sweep),
        any(p.max_tokens is None for p in sweep.presets),
    )


def problems(
    sweep: SweepComparison, settings: Settings, endpoints: Collection[str] = ()
) -> dict[str, str]:
    """A comparison's caps, named by the sweep's fields ("base.endpoint", "samples", …),
    and the sweep's own cap on requests; empty when it may run."""
    found: dict[str, str] = {}
    for field, message in over_caps(sweep, settings, endpoints).items():
        if field != "presets":  # the token budget, worded for a sweep below
            found.setdefault(re.sub(r"^presets\[\d+\]", "base", field), message)
    shown = preview(sweep)
    if shown.requests > MAX_SWEEP_REQUESTS:
        found["samples"] = (
            f"This sweep would send {shown.requests} requests ({shown.points} points × "
            f"{sweep.samples} samples); a sweep sends at most {MAX_SWEEP_REQUESTS}. "
            "Use fewer points or samples."
        )
    if shown.max_tokens > settings.max_tokens_per_comparison:
        found["base.max_tokens"] = (
            f"This sweep could generate up to {shown.max_tokens:,} tokens (points × samples × "
            f"max_tokens, an unset max_tokens counted as {UNSET_MAX_TOKENS_ESTIMATE:,}); the "
            f"limit is {settings.max_tokens_per_comparison:,} "
            "(KNOBS_MAX_TOKENS_PER_COMPARISON). Set or lower max_tokens, or use fewer points "
            "or samples."
        )
    return found
