"""What blind votes add up to, honest about chance.

- Per preset: wins, ties and losses (a vote for one answer is a win for it and a loss for
  every other answer shown beside it; a tie, between two, is neither), and the win rate, wins
  ÷ (wins + losses), with its 95% Wilson interval (app/engine/evals/stats.py, SciPy).
- With three presets or more: a Bradley–Terry (Luce choice) strength per preset, fitted by
  `choix` (MIT) from each vote's winner over the answers it beat, with a 95% interval from a
  bootstrap over the votes. Strengths are on a log scale and sum to 0.
- How far reviewers agree: Krippendorff's alpha (nominal) over the cases two reviewers or more
  judged, by NLTK's `AnnotationTask` (Apache-2.0): 1 is full agreement, 0 what chance gives.
- A verdict that names a preferred preset only when its interval clears every other's, else
  "not enough votes to tell".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from app.engine.evals.stats import wilson

BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 20261206  # the same votes give the same intervals on every page view
REGULARISATION = 0.01  # keeps a preset that never won finite (choix's alpha)
# Below this many decided votes a bootstrap interval says more about the few votes than about
# the presets (one vote resamples to itself): the strength is shown without one.
MIN_VOTES_FOR_INTERVAL = 10


@dataclass(frozen=True)
class Vote:
    reviewer: str
    case: int
    shown: tuple[int, ...]  # the presets shown side by side
    winner: int | None  # None: a tie between the two shown


class PresetTally(BaseModel):
    preset: str
    index: int
    wins: int
    ties: int
    losses: int
    win_rate: float | None = Field(description="wins / (wins + losses); ties left out")
    interval: tuple[float, float] | None = Field(description="95% Wilson interval of win_rate")
    strength: float | None = Field(
        default=None, description="Bradley–Terry strength (log scale, sum 0), 3 presets or more"
    )
    strength_interval: tuple[float, float] | None = Field(
        default=None,
        description="95% bootstrap interval of strength; null below "
        f"{MIN_VOTES_FOR_INTERVAL} decided votes",
    )


class Agreement(BaseModel):
    alpha: float | None = Field(description="Krippendorff's alpha (nominal); null: cannot say")
    cases: int = Field(description="cases judged by two reviewers or more")
    explanation: str


class Tally(BaseModel):
    presets: list[PresetTally]
    reviewers: int
    votes: int
    agreement: Agreement
    verdict: str


def tally(names: Sequence[str], votes: Sequence[Vote]) -> Tally:
    counts = {i: [0, 0, 0] for i in range(len(names))}  # wins, ties, losses
    for vote in votes:
        for preset in vote.shown:
            if vote.winner is None:
                counts[preset][1] += 1
            else:
                counts[preset][0 if preset == vote.winner else 2] += 1
    rows = []
    for index, name in enumerate(names):
        wins, ties, losses = counts[index]
        decided = wins + losses
        rows.append(
            PresetTally(
                preset=name,
                index=index,
                wins=wins,
                ties=ties,
                losses=losses,
                win_rate=wins / decided if decided else None,
                interval=wilson(wins, decided) if decided else None,
            )
        )
    if len(names) >= 3:
        rows = _with_strengths(rows, votes)
    return Tally(
        presets=rows,
        reviewers=len({v.reviewer for v in votes}),
        votes=len(votes),
        agreement=agreement(votes),
        verdict=verdict(rows, len(votes)),
    )


def _with_strengths(rows: list[PresetTally], votes: Sequence[Vote]) -> list[PresetTally]:
    import choix  # noqa: PLC0415 - numpy/scipy fitting code, loaded when first needed

    n = len(rows)
    choices = [
        (v.winner, tuple(p for p in v.shown if p != v.winner))
        for v in votes
        if v.winner is not None
    ]
    if not choices:
        return rows
    fitted = choix.ilsr_top1(n, choices, alpha=REGULARISATION)
    if len(choices) < MIN_VOTES_FOR_INTERVAL:
        return [row.model_copy(update={"strength": float(fitted[i])}) for i, row in enumerate(rows)]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = []
    for _ in range(BOOTSTRAP_ROUNDS):
        picked = rng.integers(0, len(choices), len(choices))
        draws.append(choix.ilsr_top1(n, [choices[i] for i in picked], alpha=REGULARISATION))
    low, high = np.percentile(np.array(draws), [2.5, 97.5], axis=0)
    return [
        row.model_copy(
            update={
                "strength": float(fitted[i]),
                "strength_interval": (float(low[i]), float(high[i])),
            }
        )
        for i, row in enumerate(rows)
    ]


def agreement(votes: Sequence[Vote]) -> Agreement:
    from nltk.metrics.agreement import AnnotationTask  # noqa: PLC0415 - loaded when needed

    by_case: dict[int, set[str]] = {}
    for vote in votes:
        by_case.setdefault(vote.case, set()).add(vote.reviewer)
    shared = {case for case, who in by_case.items() if len(who) >= 2}
    if not shared:
        return Agreement(
            alpha=None,
            cases=0,
            explanation="Agreement needs two reviewers or more on the same case.",
        )
    data = [
        (v.reviewer, str(v.case), "tie" if v.winner is None else str(v.winner))
        for v in votes
        if v.case in shared
    ]
    labels = {label for _r, _c, label in data}
    if len(labels) == 1:  # everyone picked the same: alpha is undefined (no disagreement to expect)
        return Agreement(
            alpha=1.0,
            cases=len(shared),
            explanation="Every reviewer picked the same answer on "
            + ("the one case" if len(shared) == 1 else f"all {len(shared)} cases")
            + " judged by two reviewers or more.",
        )
    try:
        alpha = float(AnnotationTask(data=data).alpha())
    except ZeroDivisionError:  # no variation to measure against (a single shared unit, say)
        return Agreement(
            alpha=None,
            cases=len(shared),
            explanation="Too few shared judgements to measure agreement yet.",
        )
    return Agreement(
        alpha=alpha,
        cases=len(shared),
        explanation=(
            f"Krippendorff's alpha {alpha:.2f} over {len(shared)} case"
            f"{'s' if len(shared) != 1 else ''} judged by two reviewers or more "
            "(1: full agreement, 0: what chance gives)."
        ),
    )


def verdict(rows: list[PresetTally], votes: int) -> str:
    rated = [r for r in rows if r.interval is not None and r.win_rate is not None]
    if not votes or len(rated) < 2:
        return "No votes yet." if not votes else "Not enough votes to tell."
    best = max(rated, key=lambda r: r.win_rate or 0.0)
    assert best.interval is not None
    others = [r for r in rated if r is not best]
    if all(r.interval is not None and best.interval[0] > r.interval[1] for r in others):
        return (
            f"People prefer {best.preset}: its win rate's 95% interval "
            f"({best.interval[0]:.0%}–{best.interval[1]:.0%}) is above every other preset's."
        )
    return (
        f"Not enough votes to tell which preset people prefer: the win rates' 95% intervals "
        f"overlap ({votes} vote{'s' if votes != 1 else ''} so far)."
    )
