"""Held live text: every piece comes out once, in order, with the latest progress."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.engine.events import Thinking
from app.engine.fanout import Delta
from app.web.coalescer import Coalescer, Held


def delta(column: int, sample: int, text: str, tokens: int = 1) -> Delta:
    return Delta(column, sample, text, tokens, tokens_per_second=float(tokens))


def test_take_joins_each_samples_text_with_its_latest_progress():
    held = Coalescer(every=0.1)
    for piece in (delta(0, 0, "Hel", 1), delta(1, 2, "x", 1), delta(0, 0, "lo", 2)):
        held.add(piece)
    assert held.take(now=5.0) == [delta(0, 0, "Hello", 2), delta(1, 2, "x", 1)]
    assert held.take(now=5.2) == []


def test_a_flush_may_go_at_once_then_once_per_interval():
    held = Coalescer(every=0.25)
    assert held.due_in(now=3.0) == 0.0  # nothing sent yet: the first text goes out at once
    held.take(now=3.0)
    assert held.due_in(now=3.125) == 0.125
    assert held.due_in(now=3.25) == 0.0
    assert held.due_in(now=9.0) == 0.0


def test_a_column_is_taken_alone_and_the_interval_is_kept():
    held = Coalescer(every=0.25)
    held.take(now=1.0)
    for piece in (delta(0, 0, "a"), delta(1, 0, "b"), delta(0, 1, "c")):
        held.add(piece)
    assert held.take_column(0) == [delta(0, 0, "a"), delta(0, 1, "c")]
    assert held.take_column(0) == []
    assert held.due_in(now=1.125) == 0.125  # a column's flush is not the timed one
    assert held.take(now=1.25) == [delta(1, 0, "b")]


pieces = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.text(max_size=5), st.booleans()),
    max_size=40,
)


@given(pieces)
def test_every_character_comes_out_once_and_in_order(script):
    """Whatever the interleaving of samples and flushes, each sample's text is intact."""
    held = Coalescer(every=0.1)
    sent: dict[tuple[int, int], str] = {}
    received: dict[tuple[int, int], str] = {}

    def record(into: dict[tuple[int, int], str], piece: Held) -> None:
        into[(piece.column, piece.sample)] = into.get((piece.column, piece.sample), "") + piece.text

    for tokens, (column, sample, text, flush) in enumerate(script, start=1):
        piece = delta(column, sample, text, tokens)
        held.add(piece)
        record(sent, piece)
        if flush:  # a column's results (column 1 here) or the timer
            taken = held.take_column(column) if column == 1 else held.take(now=float(tokens))
            for out in taken:
                record(received, out)
    for out in held.take(now=1e9):
        record(received, out)
    assert received == sent


def test_reasoning_and_answer_are_held_apart():
    held = Coalescer(every=0.1)
    held.add(Thinking(0, 0, "Let me ", 1))
    held.add(delta(0, 0, "Paris", 1))
    held.add(Thinking(0, 0, "think.", 2))
    taken = held.take(now=1.0)
    assert {(type(d).__name__, d.text) for d in taken} == {
        ("Thinking", "Let me think."),
        ("Delta", "Paris"),
    }
