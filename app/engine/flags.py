"""Flags: what a person would miss by eye in a column's samples, each flag declared once.

A flag's record says what it is called, which field of `Flags` it reads, what it means in one
line, whether the history counts it (and in which column of the runs table), and how its
column is rerun. The page (templates/_flags.html), the exports, the history and the sweep
table read these records; what cannot read them — the `Flags` model below, the runs table's
columns and its migrations, `RunSummary`, the page's wording of each flag and the flag table
in docs/results.md — is checked against them by tests/test_flag_table.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from app.engine.knobs import KNOB_BY_NAME


class Flags(BaseModel):
    """A column's flags as analysis found them (app/engine/analysis.py), in the API's shape."""

    truncated: bool = False
    nondeterministic: bool = False
    distinct: int = 0
    first_divergence: int | None = None
    expected_deterministic: bool = False
    fingerprint_drift: bool = False
    # The model did not take a knob this preset sets: the column is not what its name says.
    setting_refused: bool = False
    # A sample came back as a refusal (delta.refusal) instead of an answer.
    refused: bool = False
    # An answer empty or cut off because reasoning used (most of) the token budget.
    reasoning_budget: bool = False


# The one way a flag's column is rerun: alone, with max_tokens doubled (rerun_max_tokens).
Rerun = Literal["with max_tokens doubled"]
DOUBLE_MAX_TOKENS: Rerun = "with max_tokens doubled"


@dataclass(frozen=True)
class Flag:
    """One flag. `name` is how the page's markup, the exports and the API's readers know it;
    `label` is what a person reads; `help` says what it means, in one line."""

    name: str
    label: str
    field: str  # the field of Flags it reads
    help: str
    # The runs table's column, and RunSummary's field, that counts it per run; None when the
    # history does not count it (it is no problem).
    column: str | None
    rerun: Rerun | None = None
    # When it shows, given the flags and how many samples answered; unset: whenever `field` is.
    when: Callable[[Flags, int], bool] | None = None

    def shown(self, flags: Flags, answered: int) -> bool:
        return self.when(flags, answered) if self.when else bool(getattr(flags, self.field))


# In the order a column shows them. A refused setting comes first: the column's other flags
# describe settings other than those its name promises. Nondeterminism where it was expected
# not to happen (temperature 0 or a seed) is "unexpected" instead, never both.
FLAGS: tuple[Flag, ...] = (
    Flag(
        "setting_refused",
        "setting refused",
        field="setting_refused",
        help="The model did not take a knob this preset sets, so the column is not what its "
        "name says.",
        column="setting_refused",
    ),
    Flag(
        "refused",
        "refused",
        field="refused",
        help="A sample came back as a refusal (`refusal`) instead of an answer, and is shown "
        "as such.",
        column="refused",
    ),
    Flag(
        "reasoning_budget",
        "budget spent on reasoning",
        field="reasoning_budget",
        help="The answer is empty or cut off because reasoning used the token budget.",
        column="reasoning_budget",
        rerun=DOUBLE_MAX_TOKENS,
    ),
    Flag(
        "truncated",
        "truncated",
        field="truncated",
        help="A sample ended with finish_reason `length`: the answer did not end by itself.",
        column="truncated",
        rerun=DOUBLE_MAX_TOKENS,
    ),
    Flag(
        "unexpected",
        "unexpectedly nondeterministic",
        field="nondeterministic",
        help="Samples differ although temperature is 0 or a seed is set, where people expect "
        "repeatable output.",
        column="unexpected",
        when=lambda flags, _: flags.nondeterministic and flags.expected_deterministic,
    ),
    Flag(
        "nondeterministic",
        "nondeterministic",
        field="nondeterministic",
        help='Samples differ ("2 distinct of 3"); the point where they first diverge is '
        "highlighted.",
        column="nondeterministic",
        when=lambda flags, _: flags.nondeterministic and not flags.expected_deterministic,
    ),
    Flag(
        "repeatable",
        "repeatable",
        field="nondeterministic",
        help="Every sample that answered gave the same answer (shown from two samples on).",
        column=None,
        when=lambda flags, answered: not flags.nondeterministic and answered > 1,
    ),
    Flag(
        "drift",
        "fingerprint drift",
        field="fingerprint_drift",
        help="Samples came back with different system_fingerprint values: the backend changed "
        "between requests.",
        column="drift",
    ),
)
FLAG_BY_NAME = {flag.name: flag for flag in FLAGS}
FLAG_LABELS = {flag.name: flag.label for flag in FLAGS}
# The flags the history counts per run, in the page's order.
COUNTED_FLAGS = tuple(flag for flag in FLAGS if flag.column is not None)
# With neither max_tokens set nor a token count to go by, a rerun doubles this guess.
GUESSED_LENGTH = 16


def flag_kinds(flags: Flags, answered: int) -> list[str]:
    """The names of the flags a column shows, in order."""
    return [flag.name for flag in FLAGS if flag.shown(flags, answered)]


def rerun_flag(kinds: Iterable[str]) -> str | None:
    """Of the flags a column shows, the one whose line offers the rerun: the first a rerun
    is for, so that the button shows once."""
    return next((kind for kind in kinds if FLAG_BY_NAME[kind].rerun), None)


def rerun_max_tokens(max_tokens: int | None, completion_tokens: Iterable[int | None]) -> int:
    """The max_tokens a rerun asks for: twice the preset's, else twice the longest answer's
    token count, never above what the knob allows."""
    longest = max((n for n in completion_tokens if n), default=None)
    doubled = (max_tokens or longest or GUESSED_LENGTH) * 2
    ceiling = KNOB_BY_NAME["max_tokens"].high
    return doubled if ceiling is None else min(doubled, int(ceiling))
