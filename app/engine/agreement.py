"""How far a column's samples agree, and how far two columns do: pure functions of the texts.

Similarity is word-level, over words and marks (the same cut as the diffs): twice the longest
common subsequence of words over the two lengths (RapidFuzz's Indel normalized similarity, MIT,
in C++, symmetric by construction). 1 for identical answers, 0 for answers that share no word.
For 8 columns of 3 different forty-word answers, the columns' agreement and the whole matrix
take 2 ms where difflib took 15, after the last token, while everyone waits. Past ORDERED_UP_TO
words it is the share of words two answers have in common in any order (difflib's quick_ratio).
Short answers also get a yes/no on substance: the same final number, or else the same final
line, whatever the wording before it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher
from itertools import combinations, product

from pydantic import BaseModel, Field
from rapidfuzz.distance import Indel

from app.engine.word_diff import words

# Answers up to this many words count as short: their substance is their last line or number.
SHORT_WORDS = 40
# Longer answers are compared as bags of words (see above): 1,000 words took 10-50 ms in order,
# well under 1 ms as a bag.
ORDERED_UP_TO = 300
# Two columns are compared through their commonest answers, at most this many each: 8 columns of
# 5 long answers would otherwise take 700 comparisons of a few milliseconds each.
MOST_COMMON = 3
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


class Agreement(BaseModel):
    """A column's agreement: how similar its answers are, and whether short ones agree."""

    similarity: float | None = Field(
        default=None,
        description="mean pairwise word-level similarity of the answers, 0-1; null for fewer "
        "than two answers",
    )
    substance: bool | None = Field(
        default=None,
        description="short answers only: true when all end in the same number (or else the "
        "same last line); null when an answer is long or there are fewer than two",
    )
    explanation: str = ""


def similarity(a: str, b: str) -> float:
    """Word-level similarity, 0-1, the same whichever text comes first."""
    return 1.0 if a == b else _similarity(words(a), words(b))


def _similarity(wa: list[str], wb: list[str]) -> float:
    """`similarity` of two texts already cut into words: each text is cut once for all its
    pairs (for 1,000 words the cut takes ~0.26 ms, the bag-of-words ratio ~0.4 ms)."""
    if not wa and not wb:
        return 1.0
    if max(len(wa), len(wb)) > ORDERED_UP_TO:
        return SequenceMatcher(None, wa, wb, autojunk=False).quick_ratio()  # symmetric
    return float(Indel.normalized_similarity(wa, wb))


def mean_similarity(texts: Sequence[str]) -> float | None:
    """Mean similarity over every pair of answers; None for fewer than two. Each distinct
    text is compared once: long answers, five samples, eight columns add up."""
    if len(texts) < 2:
        return None
    counted = Counter(texts)
    identical = sum(n * (n - 1) // 2 for n in counted.values())  # pairs at similarity 1
    total, weight = float(identical), identical
    cut = {text: words(text) for text in counted}
    for (a, n), (b, m) in combinations(counted.items(), 2):  # distinct, so never a == b
        total += _similarity(cut[a], cut[b]) * n * m
        weight += n * m
    return total / weight


def cross_similarity(xs: Sequence[str], ys: Sequence[str]) -> float | None:
    """Mean similarity of the answers of one column to those of another, each weighed by how
    often it came (the MOST_COMMON commonest of each column)."""
    total, weight = 0.0, 0
    ones, others = Counter(xs).most_common(MOST_COMMON), Counter(ys).most_common(MOST_COMMON)
    cut = {text: words(text) for text, _ in ones + others}
    for (x, n), (y, m) in product(ones, others):
        total += (1.0 if x == y else _similarity(cut[x], cut[y])) * n * m
        weight += n * m
    return total / weight if weight else None


def substance(text: str) -> str | None:
    """What a short answer comes down to: its last number, else its last line, normalised;
    None for a long or empty answer."""
    if not text.strip() or len(words(text)) > SHORT_WORDS:
        return None
    numbers = _NUMBER.findall(text)
    if numbers:
        number = numbers[-1].replace(",", "")
        return number.rstrip("0").rstrip(".") if "." in number else number
    last = [line for line in text.splitlines() if line.strip()][-1]
    return " ".join(words(last.lower())).strip(" .!")


def agree_in_substance(texts: Sequence[str]) -> bool | None:
    """True when every (short) answer comes down to the same thing; None when it cannot say."""
    keys = [substance(t) for t in texts]
    if len(keys) < 2 or any(k is None for k in keys):
        return None
    return len(set(keys)) == 1


def agreement(texts: Sequence[str]) -> Agreement:
    """A column's agreement, with the line that explains it."""
    score, same = mean_similarity(texts), agree_in_substance(texts)
    if score is None:
        return Agreement(explanation="fewer than two answers to compare")
    line = f"{percent(score)} similar: the mean word-level overlap of every pair of answers"
    if same is not None:
        line += "; they agree in substance" if same else "; they differ in substance"
        line += " (the same final number or line)" if same else " (final number or line)"
    return Agreement(similarity=round(score, 3), substance=same, explanation=line + ".")


def percent(score: float) -> str:
    return f"{round(score * 100)}%"
