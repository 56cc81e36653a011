"""Before an eval runs: what it will send and cost at most, and whether it may.

Every case is a comparison, so each is held to a comparison's caps (the prompt's size, the
endpoints, the tokens per comparison: app/engine/preflight.py); the eval as a whole to
KNOBS_MAX_EVAL_REQUESTS. A case that asks nothing, lacks a template variable, or lacks the
expected answer a check needs is named by its own field, before any request goes out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from app.engine.evals.cases import template_vars
from app.engine.evals.checks import CHECK_BY_NAME
from app.engine.evals.definition import EvalRequest
from app.engine.preflight import UNSET_MAX_TOKENS_ESTIMATE, over_caps
from app.engine.presets import Preset
from app.engine.results import Usage
from app.settings import Settings

# For the most an eval can cost, a prompt token is taken to be 3 characters (English text
# runs about 4; the estimate leans high, as a budget should).
CHARS_PER_TOKEN = 3
# A preset's price for `usage`, None when unknown (app/web/comparisons.py knows endpoints).
PriceOf = Callable[[Preset, Usage], float | None]


@dataclass(frozen=True)
class Preview:
    """What an eval will send before anything runs."""

    cases: int
    presets: int
    samples: int
    requests: int
    max_tokens: int  # answer tokens at most, all requests together
    unset_max_tokens: bool  # some preset leaves max_tokens to the endpoint (estimated)
    max_cost: float | None  # US dollars at most; None when a price is unknown


def preview(eval: EvalRequest, price_of: PriceOf | None = None) -> Preview:
    per_request = [p.max_tokens or UNSET_MAX_TOKENS_ESTIMATE for p in eval.presets]
    cases = len(eval.cases)
    cost: float | None = None
    if price_of is not None:
        cost = 0.0
        for preset, most in zip(eval.presets, per_request, strict=True):
            for case in range(cases):
                asked = len(eval.prompt_of(case) or "") + len(eval.system or "")
                usage = Usage(
                    prompt_tokens=math.ceil(asked / CHARS_PER_TOKEN) * eval.samples,
                    completion_tokens=most * eval.samples,
                )
                price = price_of(preset, usage)
                if price is None:
                    cost = None
                    break
                cost += price
            if cost is None:
                break
    return Preview(
        cases=cases,
        presets=len(eval.presets),
        samples=eval.samples,
        requests=eval.requests,
        max_tokens=sum(per_request) * eval.samples * cases,
        unset_max_tokens=any(p.max_tokens is None for p in eval.presets),
        max_cost=cost,
    )


def problems(
    eval: EvalRequest, settings: Settings, endpoints: Collection[str] = ()
) -> dict[str, str]:
    """Problems by field ("cases[2].vars", "presets[0].endpoint", "samples"…); empty when the
    eval may run."""
    found: dict[str, str] = {}
    names = template_vars(eval.template or "")
    for index, case in enumerate(eval.cases):
        number = index + 1
        if case.prompt is None and not case.messages:
            if not eval.template:
                found[f"cases[{index}]"] = (
                    f"Case {number} has variables but nothing asks with them: write a template "
                    "using {{" + (next(iter(case.vars), "name")) + "}}, or give it a prompt."
                )
                continue
            missing = [name for name in names if name not in case.vars]
            if missing:
                found[f"cases[{index}].vars"] = (
                    f"Case {number} has no value for "
                    + ", ".join("{{" + name + "}}" for name in missing)
                    + "."
                )
                continue
        for check in eval.checks_for(index):
            if check.needs_expected() and case.expected is None:
                label = CHECK_BY_NAME[check.kind].label
                found.setdefault(
                    f"cases[{index}].expected",
                    f"Case {number} has no expected answer, which the check “{label}” needs: "
                    "add one (an `expected` column), or give the check a value.",
                )
    if found:
        return found
    for index in range(len(eval.cases)):
        for field, message in over_caps(eval.comparison(index), settings, endpoints).items():
            if field == "prompt":
                found[f"cases[{index}]"] = f"Case {index + 1}: {message}"
            else:  # the presets' problems are the same for every case: said once
                found.setdefault(field, message)
    shown = preview(eval)
    if shown.requests > settings.max_eval_requests:
        found["samples"] = (
            f"This eval would send {shown.requests:,} requests ({shown.cases} cases × "
            f"{shown.presets} presets × {shown.samples} samples); an eval sends at most "
            f"{settings.max_eval_requests:,} (KNOBS_MAX_EVAL_REQUESTS). Use fewer cases, "
            "presets or samples."
        )
    return found


def case_field(field: str) -> int | None:
    """The case a problem's field names (`cases[3].vars` → 3), for the form's message."""
    match = re.match(r"cases\[(\d+)\]", field)
    return int(match.group(1)) if match else None
