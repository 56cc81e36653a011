"""The figures an eval reports, with their uncertainty: scipy's where scipy has them.

A pass rate over a few dozen samples is a guess, so it comes with a Wilson interval (sound near
0 and 1, where the textbook ± interval is not). pass@k and pass^k are the unbiased estimators
from n ≥ k samples. Two presets are compared case by case with a sign test, and the p-values of
several pairs are Holm-adjusted, so that running more pairs does not manufacture a winner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest


def wilson(passes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for passes/trials; (0, 1) when there were no trials, since
    nothing has been learnt."""
    if trials == 0:
        return (0.0, 1.0)
    interval = binomtest(passes, trials).proportion_ci(confidence, method="wilson")
    return (float(interval.low), float(interval.high))


def _counts(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"passes must be between 0 and {n} samples; got {c}")
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and the {n} samples; got {k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of k samples passes, estimated without bias from n samples
    of which c passed (Chen et al. 2021): 1 - C(n-c, k)/C(n, k). Plain c/n-based 1-(1-p)^k is
    biased upward for small n, which is every eval here."""
    _counts(n, c, k)
    # Exact integers: the binomials overflow floats long before n is large.
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_all_k(n: int, c: int, k: int) -> float:
    """The chance that all k samples pass (pass^k, as in tau-bench), unbiased: C(c, k)/C(n, k).
    It is what a user who asks k times sees: the answer they can rely on every time."""
    _counts(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


@dataclass(frozen=True)
class SignTest:
    better: int  # cases where A did better than B
    worse: int  # cases where A did worse
    same: int  # ties, which say nothing about which is better and are left out of the test
    p_value: float  # two-sided exact binomial test of better against worse; 1.0 with no data


def sign_test(a: Sequence[float], b: Sequence[float]) -> SignTest:
    """Paired by case: a[i] and b[i] are the two presets' pass rates (or counts) on case i.

    Pairing by case takes out how hard each case is, which dwarfs the presets' difference;
    only the direction is used, so one easy case cannot outweigh many. With one sample per
    case this is McNemar's exact test.
    """
    if len(a) != len(b):
        raise ValueError(f"paired by case: {len(a)} values against {len(b)}")
    better = sum(x > y for x, y in zip(a, b, strict=True))
    worse = sum(x < y for x, y in zip(a, b, strict=True))
    same = len(a) - better - worse
    decided = better + worse
    p_value = float(binomtest(better, decided, 0.5).pvalue) if decided else 1.0
    return SignTest(better=better, worse=worse, same=same, p_value=p_value)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (monotone, at most 1).

    Hand-written, the one formula here that is: scipy has no Holm adjustment, and statsmodels,
    which has, would bring pandas with it for five lines.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        # The smallest p is multiplied by m, the next by m-1…; never below an earlier one.
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation as numpy does); None for no values."""
    if not values:
        return None
    return float(np.percentile(values, q))
