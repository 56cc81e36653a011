"""Pure analysis of a column's samples: what a person would miss by eye."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.engine.flags import Flags


@dataclass(frozen=True)
class SampleView:
    """The parts of a sample the analysis needs; errors are left out of the comparison."""

    text: str
    finish_reason: str | None
    system_fingerprint: str | None
    ok: bool
    refused: bool = False
    reasoning_tokens: int | None = None
    completion_tokens: int | None = None

    def spent_on_reasoning(self) -> bool:
        """Cut off, or empty, with reasoning having used at least half of the budget."""
        if not self.reasoning_tokens or self.refused:
            return False
        if not self.text:
            return self.finish_reason == "length" or self.ok
        spent = self.reasoning_tokens * 2 >= (self.completion_tokens or 0)
        return self.finish_reason == "length" and spent


def first_divergence(texts: Sequence[str]) -> int | None:
    """Character offset where the texts first differ, or None when they are all identical."""
    if len(set(texts)) <= 1:
        return None
    return len(os.path.commonprefix(list(texts)))


def analyze(
    samples: Sequence[SampleView], expects_repeatable: bool, setting_refused: bool = False
) -> Flags:
    """Flags for one column. Failed samples count for truncation but not for variation.
    `setting_refused`: a knob the preset sets was not sent (see app/engine/capabilities.py)."""
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
        setting_refused=setting_refused,
        refused=any(s.refused for s in samples),
        reasoning_budget=any(s.spent_on_reasoning() for s in samples),
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


def group_answers(samples: Sequence[Answer]) -> list[list[int]]:
    """Indexes of identical answers, in first-seen order; a failed sample stands alone."""
    keys = [s.text if s.error is None else f"\0failed-{i}" for i, s in enumerate(samples)]
    return [indexes for _, indexes in group_identical(keys)]
