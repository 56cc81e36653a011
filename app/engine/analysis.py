"""Pure analysis of a column's samples: what a person would miss by eye."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel

FlagKind = Literal["truncated", "unexpected", "nondeterministic", "repeatable", "drift"]
# Each flag's name wherever it is shown: the page, the exports and the history of runs.
FLAG_LABELS: dict[FlagKind, str] = {
    "truncated": "truncated",
    "unexpected": "unexpectedly nondeterministic",
    "nondeterministic": "nondeterministic",
    "repeatable": "repeatable",
    "drift": "fingerprint drift",
}


class Flags(BaseModel):
    truncated: bool = False
    nondeterministic: bool = False
    distinct: int = 0
    first_divergence: int | None = None
    expected_deterministic: bool = False
    fingerprint_drift: bool = False


@dataclass(frozen=True)
class SampleView:
    """The parts of a sample the analysis needs; errors are left out of the comparison."""

    text: str
    finish_reason: str | None
    system_fingerprint: str | None
    ok: bool


def first_divergence(texts: Sequence[str]) -> int | None:
    """Character offset where the texts first differ, or None when they are all identical."""
    if len(set(texts)) <= 1:
        return None
    return len(os.path.commonprefix(list(texts)))


def analyze(samples: Sequence[SampleView], expects_repeatable: bool) -> Flags:
    """Flags for one column. Failed samples count for truncation but not for variation."""
    texts = [s.text for s in samples if s.ok]
    distinct = len(set(texts))
    fingerprints = {s.system_fingerprint for s in samples if s.ok and s.system_fingerprint}
    return Flags(
        truncated=any(s.finish_reason == "length" for s in samples),
        nondeterministic=distinct > 1,
        distinct=distinct,
        first_divergence=first_divergence(texts),
        expected_deterministic=expects_repeatable,
        fingerprint_drift=len(fingerprints) > 1,
    )


def group_identical(texts: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Identical texts grouped in first-seen order, with the indexes that produced each."""
    groups: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        groups.setdefault(text, []).append(index)
    return list(groups.items())


class Answer(Protocol):
    """A finished sample as the flags see it (app.engine.results.Sample is one)."""

    @property
    def text(self) -> str: ...

    @property
    def error(self) -> str | None: ...


def count_answered(samples: Iterable[Answer]) -> int:
    """How many samples answered: failed ones are left out of the variation flags."""
    return sum(s.error is None for s in samples)


def flag_kinds(flags: Flags, answered: int) -> list[FlagKind]:
    """The flags a column shows, in order. Nondeterminism where it was expected not to
    happen (T=0 or a seed) is "unexpected" instead, never both."""
    kinds: list[FlagKind] = ["truncated"] if flags.truncated else []
    if flags.nondeterministic:
        kinds.append("unexpected" if flags.expected_deterministic else "nondeterministic")
    elif answered > 1:
        kinds.append("repeatable")
    if flags.fingerprint_drift:
        kinds.append("drift")
    return kinds


def group_answers(samples: Sequence[Answer]) -> list[list[int]]:
    """Indexes of identical answers, in first-seen order; a failed sample stands alone."""
    keys = [s.text if s.error is None else f"\0failed-{i}" for i, s in enumerate(samples)]
    return [indexes for _, indexes in group_identical(keys)]
