"""What a comparison reports as it runs: plain data, in arrival order."""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.capabilities import Adjustment
from app.engine.results import Column, Comparison, Sample


@dataclass(frozen=True)
class Sent:
    """One sample's request went out: it had its turn at the endpoint (see slots.py)."""

    column: int
    sample: int


@dataclass(frozen=True)
class Delta:
    """New text for one sample, with its progress so far."""

    column: int
    sample: int
    text: str
    tokens: int
    tokens_per_second: float | None


@dataclass(frozen=True)
class Thinking:
    """New reasoning text for one sample. Kept apart from `Delta` (the answer) so a view
    that does not show reasoning yet passes it by instead of mixing it into the answer."""

    column: int
    sample: int
    text: str
    tokens: int


@dataclass(frozen=True)
class SampleDone:
    """A sample's result, with what its request was sent as and what was changed in it."""

    column: int
    sample: int
    result: Sample
    sent: str | None = None
    adjustments: tuple[Adjustment, ...] = ()


@dataclass(frozen=True)
class ColumnDone:
    column: int
    result: Column


@dataclass(frozen=True)
class ComparisonDone:
    result: Comparison
    stopped: bool


Event = Sent | Delta | Thinking | SampleDone | ColumnDone | ComparisonDone
