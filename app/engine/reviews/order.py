"""Which answer a reviewer sees under which letter: an order of their own for every case, so
that nobody can tell a preset by its place, and position does not favour any preset.

Reviewers are numbered as they arrive (their slot, kept with the review). For each case, a
shuffle drawn from an HMAC of the review's secret seed, rotated by the slot: within each run of
n reviewers (n answers), every preset takes every place once — a Latin square, so the first
answer's advantage is shared out evenly — and two reviewers of one block never see the same
order. The next block of n reviewers starts from a fresh shuffle. Never stored: drawing it
again turns the letter a vote names back into its preset.
"""

from __future__ import annotations

import hashlib
import hmac
import random

LETTERS = "ABCDEFGH"  # at most this many answers side by side (keys 1–8)
TIE = "tie"


def order_for(seed: str, slot: int, case: int, shown: list[int]) -> list[int]:
    """The presets `shown` in the order reviewer number `slot` sees them on this case:
    position i is letter i."""
    block, turn = divmod(slot, max(len(shown), 1))
    message = f"{case}\x00{block}".encode()
    digest = hmac.new(seed.encode(), message, hashlib.sha256).digest()
    order = list(shown)
    random.Random(digest).shuffle(order)
    return order[turn:] + order[:turn]


def preset_of(choice: str, order: list[int]) -> int | None:
    """The preset a letter names in `order`; None for a tie. ValueError for anything else."""
    if choice == TIE:
        if len(order) != 2:
            raise ValueError("A tie is for two answers; pick the best one.")
        return None
    if len(choice) == 1 and choice in LETTERS[: len(order)]:
        return order[LETTERS.index(choice)]
    tail = " or tie." if len(order) == 2 else "."
    raise ValueError(f"Pick one of {', '.join(LETTERS[: len(order)])}{tail}")
