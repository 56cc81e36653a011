"""Flag analysis is pure: every flag true and false, and first divergence, exhaustively."""

from hypothesis import given
from hypothesis import strategies as st

from app.engine.analysis import SampleView, analyze, first_divergence, group_identical


def view(text: str, finish: str = "stop", fingerprint: str | None = None, ok: bool = True):
    return SampleView(text, finish, fingerprint, ok)


def test_identical_samples_are_deterministic():
    flags = analyze([view("same"), view("same"), view("same")], expects_repeatable=False)
    assert (flags.nondeterministic, flags.distinct, flags.first_divergence) == (False, 1, None)


def test_different_samples_are_nondeterministic_with_divergence_point():
    flags = analyze([view("The cat sat"), view("The cat ran"), view("The cat sat")], False)
    assert flags.nondeterministic and flags.distinct == 2
    assert flags.first_divergence == len("The cat ")


def test_divergence_when_one_text_is_a_prefix_of_another():
    assert first_divergence(["abc", "abcdef"]) == 3
    assert first_divergence(["", "x"]) == 0


def test_truncated_when_any_sample_hit_length():
    assert analyze([view("a"), view("a", finish="length")], False).truncated
    assert not analyze([view("a"), view("a")], False).truncated


def test_expected_deterministic_is_passed_through():
    assert analyze([view("a"), view("b")], expects_repeatable=True).expected_deterministic
    assert not analyze([view("a"), view("b")], expects_repeatable=False).expected_deterministic


def test_fingerprint_drift_needs_two_different_fingerprints():
    assert analyze(
        [view("a", fingerprint="fp1"), view("a", fingerprint="fp2")], False
    ).fingerprint_drift
    assert not analyze(
        [view("a", fingerprint="fp1"), view("a", fingerprint="fp1")], False
    ).fingerprint_drift
    assert not analyze([view("a", fingerprint="fp1"), view("a")], False).fingerprint_drift


def test_failed_samples_do_not_count_as_variation():
    flags = analyze([view("answer"), view("partial", ok=False)], expects_repeatable=True)
    assert not flags.nondeterministic and flags.distinct == 1


def test_group_identical_keeps_first_seen_order():
    assert group_identical(["b", "a", "b"]) == [("b", [0, 2]), ("a", [1])]


@given(st.lists(st.text(max_size=30), min_size=1, max_size=6))
def test_divergence_is_the_longest_common_prefix(texts):
    cut = first_divergence(texts)
    if len(set(texts)) == 1:
        assert cut is None
        return
    assert cut is not None
    assert all(t[:cut] == texts[0][:cut] for t in texts)
    # At the cut, at least two texts disagree (or one of them has ended).
    assert len({t[cut : cut + 1] for t in texts}) > 1
