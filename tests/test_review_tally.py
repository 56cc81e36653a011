"""The review figures against known values: the win rate's interval, a Bradley–Terry fit on
a fixed table, Krippendorff's alpha on the textbook example; and the orders' promises."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine.reviews.order import LETTERS, order_for, preset_of
from app.engine.reviews.tally import Vote, agreement, tally

NAMES = ["Cold", "Warm", "Hot"]


def test_win_rate_and_its_wilson_interval():
    votes = [Vote(f"r{i}", i, (0, 1), 0 if i < 8 else 1) for i in range(10)]
    result = tally(["Cold", "Warm"], votes)
    cold, warm = result.presets
    assert (cold.wins, cold.losses, warm.wins, warm.losses) == (8, 2, 2, 8)
    assert cold.win_rate == pytest.approx(0.8)
    assert cold.interval == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # 8 of 10 is not yet clear of 2 of 10: the intervals (49–94%, 6–51%) overlap.
    assert result.verdict.startswith("Not enough votes to tell")
    assert result.reviewers == 10 and result.votes == 10


def test_a_clear_preference_is_named():
    votes = [Vote(f"r{i}", i, (0, 1), 0 if i < 15 else 1) for i in range(16)]
    result = tally(["Cold", "Warm"], votes)
    assert result.presets[0].interval == pytest.approx((0.7167, 0.9889), abs=1e-4)
    assert result.verdict.startswith("People prefer Cold")


def test_ties_are_neither_wins_nor_losses():
    votes = [Vote("a", 0, (0, 1), None), Vote("b", 0, (0, 1), 0)]
    cold, warm = tally(["Cold", "Warm"], votes).presets
    assert (cold.wins, cold.ties, cold.losses) == (1, 1, 0)
    assert (warm.wins, warm.ties, warm.losses) == (0, 1, 1)
    assert cold.win_rate == 1.0 and warm.win_rate == 0.0


def test_overlapping_intervals_say_not_enough_votes():
    votes = [Vote("a", 0, (0, 1), 0), Vote("b", 0, (0, 1), 1), Vote("c", 0, (0, 1), 0)]
    assert tally(["Cold", "Warm"], votes).verdict.startswith("Not enough votes to tell")


def test_bradley_terry_on_a_fixed_table():
    """Cold beats Warm 7 times in 10 and Warm beats Hot 7 in 10, Cold beats Hot 9 in 10: the
    strengths order Cold > Warm > Hot, sum to 0, and Cold − Warm is near log(7/3) for a pair
    alone. The fit (choix) is checked against the maximum-likelihood equations."""
    votes = []
    for a, b, a_wins in ((0, 1, 7), (1, 2, 7), (0, 2, 9)):
        for n in range(10):
            votes.append(Vote(f"r{a}{b}{n}", n, (a, b), a if n < a_wins else b))
    rows = tally(NAMES, votes).presets
    strengths = [r.strength for r in rows]
    assert all(s is not None for s in strengths)
    cold, warm, hot = (float(s) for s in strengths)  # type: ignore[arg-type]
    assert cold > warm > hot
    assert cold + warm + hot == pytest.approx(0, abs=1e-6)
    # At the MLE each item's expected wins equal its observed wins.
    wins = {0: 16, 1: 10, 2: 4}
    theta = {0: cold, 1: warm, 2: hot}
    for i in range(3):
        expected = sum(
            10 * math.exp(theta[i]) / (math.exp(theta[i]) + math.exp(theta[j]))
            for j in range(3)
            if j != i
        )
        assert expected == pytest.approx(wins[i], abs=0.1)
    for row in rows:  # 30 votes: each strength has its bootstrap interval around it
        assert row.strength_interval is not None
        low, high = row.strength_interval
        assert low <= row.strength <= high  # type: ignore[operator]


def test_krippendorffs_alpha_on_the_textbook_example():
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the nominal example:
    four observers, twelve units, some missing; alpha = 0.743."""
    table = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    votes = [
        Vote(observer, unit, (), value)
        for observer, values in table.items()
        for unit, value in enumerate(values)
        if value is not None
    ]
    found = agreement(votes)
    # Unit 12 has one value and does not count; the other eleven are shared.
    assert found.cases == 11
    assert found.alpha == pytest.approx(0.743, abs=0.001)


def test_agreement_needs_two_reviewers_on_a_case():
    found = agreement([Vote("a", 0, (0, 1), 0), Vote("b", 1, (0, 1), 1)])
    assert found.alpha is None and "two reviewers" in found.explanation


@given(st.integers(2, 8), st.integers(0, 20), st.text(min_size=1, max_size=8))
def test_each_block_of_reviewers_sees_every_preset_in_every_place(n, case, seed):
    shown = list(range(n))
    orders = [order_for(seed, slot, case, shown) for slot in range(n)]
    assert all(sorted(o) == shown for o in orders)
    for place in range(n):  # a Latin square: each place holds each preset once
        assert sorted(o[place] for o in orders) == shown
    assert len({tuple(o) for o in orders}) == n  # so no two of them see the same order


def test_letters_map_back_and_bad_choices_are_refused():
    order = order_for("seed", 3, 0, [0, 1, 2])
    assert [preset_of(letter, order) for letter in LETTERS[:3]] == order
    with pytest.raises(ValueError, match="A, B, C"):
        preset_of("D", order)
    with pytest.raises(ValueError, match="tie is for two"):
        preset_of("tie", order)
    assert preset_of("tie", [1, 0]) is None
