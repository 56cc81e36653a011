"""Token probabilities, where the preset asked for logprobs: how sure the model was of each
token, and at the first token where samples split, what each took and what else it weighed.

Pure: the samples' tokens in, plain data out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.engine.dialects import TokenProb

# Shading steps, most to least likely; each also has its own underline, not colour alone.
LEVELS = ((0.9, "sure"), (0.5, "likely"), (0.2, "unsure"), (0.0, "unlikely"))


def probability(logprob: float) -> float:
    return math.exp(logprob)


def level(logprob: float) -> str:
    """The shading step of a token: sure, likely, unsure or unlikely."""
    p = probability(logprob)
    return next(name for floor, name in LEVELS if p >= floor)


@dataclass(frozen=True)
class Taken:
    sample: int  # 0-based
    token: str
    p: float


@dataclass(frozen=True)
class Split:
    """The first token position where the samples differ."""

    position: int  # 0-based token index
    taken: list[Taken]  # one per distinct token taken there, first sample to take it
    alternatives: list[tuple[str, float]]  # the top tokens there, likeliest first


def first_split(samples: Sequence[Sequence[TokenProb] | None]) -> Split | None:
    """Where samples with token probabilities first took different tokens; None if they did
    not (or fewer than two have probabilities)."""
    scored = [(i, tokens) for i, tokens in enumerate(samples) if tokens]
    if len(scored) < 2:
        return None
    for position in range(max(len(tokens) for _, tokens in scored)):
        here = [(i, tokens[position]) for i, tokens in scored if position < len(tokens)]
        if len(here) < 2:  # the others have ended: nothing left to weigh against
            return None
        if len({t.token for _, t in here}) < 2:
            continue
        taken: dict[str, Taken] = {}
        best: dict[str, float] = {}
        for i, token in here:
            taken.setdefault(token.token, Taken(i, token.token, probability(token.logprob)))
            for alternative in token.top:
                p = probability(alternative.logprob)
                best[alternative.token] = max(best.get(alternative.token, 0.0), p)
        ranked = sorted(best.items(), key=lambda item: -item[1])
        return Split(position, list(taken.values()), ranked)
    return None


@dataclass(frozen=True)
class CloseCall:
    """The token where the model was nearest to taking another: at T=0 a tiny difference in
    arithmetic (batching, hardware) can tip such a near tie, and the answers part there."""

    position: int
    taken: tuple[str, float]
    runner_up: tuple[str, float]


def closest_call(tokens: Sequence[TokenProb] | None) -> CloseCall | None:
    """The position whose top two alternatives were closest in probability; None without
    alternatives."""
    best: CloseCall | None = None
    margin = math.inf
    for position, token in enumerate(tokens or ()):
        others = sorted((a for a in token.top if a.token != token.token), key=lambda a: -a.logprob)
        if not others:
            continue
        p, q = probability(token.logprob), probability(others[0].logprob)
        if abs(p - q) < margin:
            margin = abs(p - q)
            best = CloseCall(position, (token.token, p), (others[0].token, q))
    return best
