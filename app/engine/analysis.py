"""Pure analysis of a column's samples: what a person would miss by eye."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel


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
