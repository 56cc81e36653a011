"""Word-level differences between two answers, by RapidFuzz's Indel opcodes (MIT): the same
measure as the answers' agreement (app/engine/agreement.py), computed in C++ in linear space.

Pure: text in, pieces out. Words and punctuation are compared, each with the spacing before
it kept for display, so that joining the pieces gives back both texts exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import Indel

# A word or one punctuation mark with the spacing before it; trailing spacing on its own.
_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
PieceKind = Literal["same", "del", "ins"]


@dataclass(frozen=True)
class Piece:
    """A run of text that both answers share (`same`), only A has (`del`) or only B (`ins`)."""

    kind: PieceKind
    text: str


def tokens(text: str) -> list[str]:
    """The text cut into words and marks, each with its leading spacing; they join to `text`."""
    return _TOKEN.findall(text)


def words(text: str) -> list[str]:
    """The words and marks alone, as the comparison sees them."""
    return [t.strip() for t in tokens(text) if t.strip()]


def word_diff(a: str, b: str) -> list[Piece]:
    """How B differs from A, word by word: deletions before insertions where a span changed."""
    ta, tb = tokens(a), tokens(b)
    # Each distinct word as a number: RapidFuzz reads a one-character string as its code point,
    # so "" (trailing spacing) and "\x00" would be one word.
    ids: dict[str, int] = {}
    keys_a = [ids.setdefault(t.strip(), len(ids)) for t in ta]
    keys_b = [ids.setdefault(t.strip(), len(ids)) for t in tb]
    pieces: list[Piece] = []
    deleted: list[str] = []  # a changed span's words, held until the next shared run
    inserted: list[str] = []
    for op in Indel.opcodes(keys_a, keys_b):
        if op.tag != "equal":
            deleted += ta[op.src_start : op.src_end]
            inserted += tb[op.dest_start : op.dest_end]
            continue
        _add(pieces, "del", "".join(deleted))
        _add(pieces, "ins", "".join(inserted))
        deleted, inserted = [], []
        # Shared words, shown with B's spacing (A's differs only in whitespace).
        _add(pieces, "same", "".join(tb[op.dest_start : op.dest_end]))
    _add(pieces, "del", "".join(deleted))
    _add(pieces, "ins", "".join(inserted))
    return pieces


def _add(pieces: list[Piece], kind: PieceKind, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1].kind == kind:
        pieces[-1] = Piece(kind, pieces[-1].text + text)
    else:
        pieces.append(Piece(kind, text))


def counts(pieces: list[Piece]) -> tuple[int, int]:
    """Words inserted and deleted, for a one-line summary."""
    inserted = sum(len(words(p.text)) for p in pieces if p.kind == "ins")
    deleted = sum(len(words(p.text)) for p in pieces if p.kind == "del")
    return inserted, deleted
