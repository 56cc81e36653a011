"""An eval's statistics against known values (scipy's, and the papers'), and their shape
checked with hypothesis: intervals hold the rate and narrow with samples, estimators order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine.evals.stats import (
    holm,
    pass_all_k,
    pass_at_k,
    percentile,
    sign_test,
    wilson,
)


def test_wilson_known_values():
    assert wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)


def test_wilson_without_trials_knows_nothing():
    assert wilson(0, 0) == (0.0, 1.0)


def test_a_higher_confidence_is_a_wider_interval():
    low_95, high_95 = wilson(8, 10)
    low_99, high_99 = wilson(8, 10, confidence=0.99)
    assert low_99 < low_95 and high_99 > high_95


@st.composite
def rates(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, 2_000))
    return draw(st.integers(0, n)), n


@given(rates())
def test_the_interval_holds_the_rate(rate: tuple[int, int]):
    k, n = rate
    low, high = wilson(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(rates())
def test_twice_the_samples_at_the_same_rate_narrow_the_interval(rate: tuple[int, int]):
    k, n = rate
    low, high = wilson(k, n)
    low2, high2 = wilson(2 * k, 2 * n)
    assert high2 - low2 < high - low


def test_pass_at_k_known_values():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(3, 0, 2) == 0.0
    assert pass_at_k(3, 3, 2) == 1.0
    assert pass_at_k(5, 4, 2) == 1.0  # only one failure: any two samples hold a pass


def test_pass_all_k_known_values():
    assert pass_all_k(5, 3, 2) == pytest.approx(0.3)
    assert pass_all_k(5, 5, 3) == 1.0
    assert pass_all_k(5, 2, 3) == 0.0
    assert pass_all_k(5, 3, 1) == pytest.approx(0.6)  # k = 1: the pass rate


def test_the_estimators_refuse_impossible_counts():
    with pytest.raises(ValueError, match="k must be"):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError, match="k must be"):
        pass_all_k(3, 1, 4)
    with pytest.raises(ValueError, match="passes must be"):
        pass_at_k(3, 4, 1)


def test_the_estimators_take_large_counts():
    assert 0.0 < pass_at_k(2_000, 3, 500) < 1.0
    assert pass_all_k(2_000, 1_999, 500) == pytest.approx(0.75)


@st.composite
def counts(draw: st.DrawFn) -> tuple[int, int, int]:
    n = draw(st.integers(1, 60))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@given(counts())
def test_pass_at_k_rises_with_k_and_with_passes(given_counts: tuple[int, int, int]):
    n, c, k = given_counts
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0
    if k < n:
        assert pass_at_k(n, c, k + 1) >= value - 1e-12
    if c < n:
        assert pass_at_k(n, c + 1, k) >= value - 1e-12


@given(counts())
def test_all_k_passing_is_no_likelier_than_one(given_counts: tuple[int, int, int]):
    n, c, k = given_counts
    assert 0.0 <= pass_all_k(n, c, k) <= pass_at_k(n, c, k) + 1e-12
    assert pass_all_k(n, c, 1) == pytest.approx(pass_at_k(n, c, 1)) == pytest.approx(c / n)


def test_sign_test_on_a_fixed_table():
    # 14 cases better, 3 worse, 5 the same: the ties say nothing and are left out.
    a = [0.8] * 14 + [0.2] * 3 + [0.5] * 5
    b = [0.4] * 14 + [0.6] * 3 + [0.5] * 5
    test = sign_test(a, b)
    assert (test.better, test.worse, test.same) == (14, 3, 5)
    assert test.p_value == pytest.approx(0.01273, abs=1e-5)
    assert sign_test(b, a).p_value == pytest.approx(test.p_value)


def test_sign_test_with_nothing_to_tell_apart():
    test = sign_test([1.0, 0.5], [1.0, 0.5])
    assert (test.better, test.worse, test.same, test.p_value) == (0, 0, 2, 1.0)
    assert sign_test([], []).p_value == 1.0


def test_one_sample_per_case_is_mcnemars_exact_test():
    # Discordant pairs b = 1 (only A passed) and c = 9 (only B passed); 20 concordant cases.
    a = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0] + [1] * 12 + [0] * 8
    b = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1] + [1] * 12 + [0] * 8
    test = sign_test([float(x) for x in a], [float(x) for x in b])
    assert (test.better, test.worse, test.same) == (1, 9, 20)
    assert test.p_value == pytest.approx(0.02148, abs=1e-5)


def test_sign_test_pairs_by_case():
    with pytest.raises(ValueError, match="paired"):
        sign_test([1.0], [1.0, 0.0])


def test_holm_known_values():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([0.02]) == [0.02]
    assert holm([]) == []


@given(st.lists(st.floats(0.0, 1.0), max_size=12))
def test_holm_only_raises_p_values_and_keeps_their_order(p_values: list[float]):
    adjusted = holm(p_values)
    assert len(adjusted) == len(p_values)
    for p, q in zip(p_values, adjusted, strict=True):
        assert p <= q <= 1.0
    for i in range(len(p_values)):
        for j in range(len(p_values)):
            if p_values[i] < p_values[j]:
                assert adjusted[i] <= adjusted[j]


def test_percentile():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([float(x) for x in range(1, 101)], 95) == pytest.approx(95.05)
