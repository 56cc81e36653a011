"""Word diffs and agreement: pure functions, checked over open-ended text with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine.agreement import (
    ORDERED_UP_TO,
    agree_in_substance,
    agreement,
    cross_similarity,
    mean_similarity,
    similarity,
    substance,
)
from app.engine.word_diff import counts, tokens, word_diff

# Words, marks, spaces and line breaks, with a few shared words so texts overlap.
text = st.lists(
    st.sampled_from(["red", "blue", "the", "fox", "42", "3.5", ",", ".", " ", "\n", "é", "🙂"])
    | st.text(max_size=6),
    max_size=30,
).map("".join)


@given(text)
def test_tokens_join_back_to_the_text(a: str):
    assert "".join(tokens(a)) == a


@given(text, text)
def test_a_diff_rebuilds_both_texts_up_to_spacing(a: str, b: str):
    pieces = word_diff(a, b)
    old = "".join(p.text for p in pieces if p.kind != "ins")
    new = "".join(p.text for p in pieces if p.kind != "del")
    assert new == b
    assert old.split() == a.split() or "".join(old.split()) == "".join(a.split())
    assert all(p.text for p in pieces)


def test_a_changed_word_is_one_deletion_and_one_insertion():
    pieces = word_diff("The sky is red today.", "The sky is blue today.")
    assert [(p.kind, p.text) for p in pieces] == [
        ("same", "The sky is"),
        ("del", " red"),
        ("ins", " blue"),
        ("same", " today."),
    ]
    assert counts(pieces) == (1, 1)


@given(text, text)
def test_similarity_is_between_0_and_1_and_symmetric(a: str, b: str):
    score = similarity(a, b)
    assert 0 <= score <= 1
    assert score == similarity(b, a)


@given(text)
def test_identical_answers_are_fully_similar(a: str):
    assert similarity(a, a) == 1
    assert mean_similarity([a, a, a]) == 1


def test_answers_with_no_word_in_common_are_not_similar():
    assert similarity("red fox", "blue dog") == 0
    assert mean_similarity(["red fox", "red fox", "blue dog"]) == 1 / 3


@given(st.lists(text, min_size=2, max_size=5))
def test_mean_similarity_is_the_mean_over_every_pair(texts: list[str]):
    pairs = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1 :]]
    expected = sum(similarity(a, b) for a, b in pairs) / len(pairs)
    score = mean_similarity(texts)
    assert score is not None and abs(score - expected) < 1e-9


@given(st.lists(text, min_size=1, max_size=3), st.lists(text, min_size=1, max_size=3))
def test_cross_similarity_is_symmetric_and_bounded(xs: list[str], ys: list[str]):
    score = cross_similarity(xs, ys)
    assert score is not None and 0 <= score <= 1
    assert abs(score - (cross_similarity(ys, xs) or 0)) < 1e-9


def test_short_answers_agree_in_substance_on_their_final_number_or_line():
    assert substance("Let me think. 6 times 7 is 42.") == "42"
    assert substance("The answer is 1,000.0") == "1000"
    assert agree_in_substance(["It is 42.", "6 × 7 = 42"]) is True
    assert agree_in_substance(["It is 42.", "It is 41."]) is False
    assert agree_in_substance(["Paris.", "paris"]) is True
    assert agree_in_substance(["word " * 60, "word"]) is None  # long answers: not judged
    assert agree_in_substance(["Paris"]) is None


def test_agreement_explains_itself():
    shown = agreement(["It is 42.", "The answer: 42"])
    assert shown.substance is True and shown.similarity is not None
    assert "similar" in shown.explanation and "agree in substance" in shown.explanation
    assert agreement(["alone"]).similarity is None


@given(st.lists(text, min_size=1, max_size=3), st.lists(text, min_size=1, max_size=3))
def test_cross_similarity_is_the_mean_over_every_pair_of_answers(xs: list[str], ys: list[str]):
    expected = sum(similarity(x, y) for x in xs for y in ys) / (len(xs) * len(ys))
    assert abs((cross_similarity(xs, ys) or 0) - expected) < 1e-9


def test_long_answers_are_compared_as_bags_of_words():
    # Past ORDERED_UP_TO words, order no longer counts: the same words shuffled are as similar
    # as can be, and half the words replaced is half similar.
    words = [f"w{i}" for i in range(ORDERED_UP_TO + 1)]
    assert similarity(" ".join(words), " ".join(reversed(words))) == 1.0
    half = words[: len(words) // 2] + [f"x{i}" for i in range(len(words) - len(words) // 2)]
    assert similarity(" ".join(words), " ".join(half)) == pytest.approx(0.5, abs=0.01)
