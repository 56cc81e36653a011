"""A finished column looked over: how far its answers agree and what they cost; and for the
whole comparison, the total and how far each column agrees with each other one.

Runs after the fan-out (app/web/comparisons.py calls it for every path), on plain data.
"""

from __future__ import annotations

from collections.abc import Callable

from app.engine.agreement import agreement, cross_similarity
from app.engine.prices import PriceList, total
from app.engine.results import Column, Comparison


def answers(column: Column) -> list[str]:
    """The texts that count for agreement: failed samples are left out, as for the flags."""
    return [s.text for s in column.samples if s.error is None]


def review_column(column: Column, prices: PriceList) -> Column:
    """The column with its samples' costs, its total and its agreement filled in."""
    samples = [
        s.model_copy(update={"cost": prices.cost(s.usage, s.model or column.model)})
        for s in column.samples
    ]
    return column.model_copy(
        update={
            "samples": samples,
            "cost": total([s.cost for s in samples]),
            "price": prices.source(column.model),
            "agreement": agreement(answers(column)),
        }
    )


def agreement_matrix(columns: list[Column]) -> list[list[float | None]]:
    """Each column's answers against each other column's, 0-1; the diagonal is the column's
    own agreement."""
    texts = [answers(c) for c in columns]
    rows: list[list[float | None]] = []
    for i, mine in enumerate(texts):
        row: list[float | None] = []
        for j, theirs in enumerate(texts):
            if i == j:
                own = columns[i].agreement
                row.append(own.similarity if own else None)
            elif j < i:
                row.append(rows[j][i])  # symmetric: computed once
            else:
                score = cross_similarity(mine, theirs)
                row.append(None if score is None else round(score, 3))
        rows.append(row)
    return rows


def review(comparison: Comparison, prices_for: Callable[[Column], PriceList]) -> Comparison:
    """Every column reviewed (those already reviewed, as they are), the total and the matrix."""
    columns = [c if c.agreement else review_column(c, prices_for(c)) for c in comparison.columns]
    return comparison.model_copy(
        update={
            "columns": columns,
            "cost": total([c.cost for c in columns]),
            "agreement": agreement_matrix(columns),
        }
    )
