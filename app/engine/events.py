"""What a comparison reports as it runs: plain data, in arrival order."""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.results import Column, Comparison, Sample


@dataclass(frozen=True)
class Delta:
    """New text for one sample, with its progress so far."""

    column: int
    sample: int
    text: str
    tokens: int
    tokens_per_second: float | None


@dataclass(frozen=True)
class SampleDone:
    column: int
    sample: int
    result: Sample


@dataclass(frozen=True)
class ColumnDone:
    column: int
    result: Column


@dataclass(frozen=True)
class ComparisonDone:
    result: Comparison
    stopped: bool


@dataclass(frozen=True)
class Idle:
    """Nothing arrived for a while; lets a consumer check that its client is still there."""


Event = Delta | SampleDone | ColumnDone | ComparisonDone | Idle
