"""The stream reader on bytes as they are read: lines cut across reads, and the last line."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from app.engine.dialects import StreamReader


def event(**delta: str) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": None}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\r\n\r\n"


STREAM = (
    event(reasoning_content="Hmm, ")
    + event(content="Héllo")  # a character of two bytes, to be cut in half
    + event(content=" world")
    + b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    + b"data: [DONE]"  # no line break at the very end
)


def read(pieces: list[bytes]) -> list[tuple[str, str]]:
    reader = StreamReader()
    chunks = [c for piece in pieces for c in reader.feed_bytes(piece)]
    chunks += reader.feed_bytes(b"\n")
    assert reader.done and reader.finish().finish_reason == "stop"
    return [(c.kind, c.text) for c in chunks]


def test_a_whole_stream_in_one_read():
    assert read([STREAM]) == [("reasoning", "Hmm, "), ("answer", "Héllo"), ("answer", " world")]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_wherever_the_reads_cut_the_stream_the_chunks_are_the_same(cuts):
    bounds = [0, *sorted(cuts), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert read(pieces) == read([STREAM])
