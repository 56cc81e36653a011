"""What a sweep measures at each point, from that point's column: pure, like analysis.py.

Each measure is declared once (`MEASURES`): the chart's lines, the heatmap's choices, the
table's columns and the exports all read these records.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from app.engine.analysis import count_answered
from app.engine.results import Column

Unit = Literal["share", "tokens", "ms", "USD"]


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    unit: Unit
    help: str


MEASURES: tuple[Measure, ...] = (
    Measure(
        "distinct_share",
        "distinct answers ÷ samples",
        "share",
        "1 sample in 1: every answer differs; 1 in N: all agree.",
    ),
    Measure(
        "agreement",
        "agreement",
        "share",
        "How much the answers agree word for word (shown once the endpoint's answers are "
        "compared word by word).",
    ),
    Measure("truncated_share", "share truncated", "share", "Answers cut off by max_tokens."),
    Measure("mean_tokens", "mean answer length", "tokens", "Answer tokens, reasoning left out."),
    Measure("median_latency_ms", "median latency", "ms", "Request sent to last token."),
    Measure("cost", "cost", "USD", "What the point's requests cost, where prices are known."),
)
MEASURE_BY_NAME = {m.name: m for m in MEASURES}


class PointStats(BaseModel):
    """One point's measures; None where nothing answered or nothing is known."""

    answered: int
    distinct_share: float | None = None
    agreement: float | None = None
    truncated_share: float | None = None
    mean_tokens: float | None = None
    median_latency_ms: float | None = None
    cost: float | None = None

    def value(self, measure: str) -> float | None:
        value = getattr(self, measure)
        return None if value is None else float(value)


def agreement(column: Column) -> float | None:
    """The seam for issue 12's agreement metric (app/engine/agreement.py): until it lands,
    None, and the distinct share stands for it, as the issue asks."""
    return None


def cost(column: Column) -> float | None:
    """The seam for prices (issue 12): unknown until an endpoint has them."""
    return None


def point_stats(column: Column) -> PointStats:
    """The measures of one point's column; failed samples count for no measure."""
    answered = [s for s in column.samples if s.error is None]
    n = count_answered(column.samples)
    if not n:
        return PointStats(answered=0)
    tokens = [
        s.usage.completion_tokens - (s.usage.reasoning_tokens or 0)
        for s in answered
        if s.usage.completion_tokens is not None
    ]
    latencies = [s.latency_ms for s in answered if s.latency_ms is not None]
    return PointStats(
        answered=n,
        distinct_share=column.flags.distinct / n,
        agreement=agreement(column),
        truncated_share=sum(s.finish_reason == "length" for s in answered) / n,
        mean_tokens=statistics.fmean(tokens) if tokens else None,
        median_latency_ms=statistics.median(latencies) if latencies else None,
        cost=cost(column),
    )


def shown_measures(stats: list[PointStats]) -> list[Measure]:
    """The measures some point has a value for: the others would be empty lines."""
    return [m for m in MEASURES if any(s.value(m.name) is not None for s in stats)]
