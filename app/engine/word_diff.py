"""Word-level differences between two answers, by the standard library's difflib.

Pure: text in, pieces out. Words and punctuation are compared, each with the spacing before
it kept for display, so that joining the pieces gives back both texts exactly.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

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
    keys_a, keys_b = [t.strip() for t in ta], [t.strip() for t in tb]
    matcher = difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False)
    pieces: list[Piece] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            # Shared words, shown with B's spacing (A's differs only in whitespace).
            _add(pieces, "same", "".join(tb[j1:j2]))
            continue
        _add(pieces, "del", "".join(ta[i1:i2]))
        _add(pieces, "ins", "".join(tb[j1:j2]))
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
