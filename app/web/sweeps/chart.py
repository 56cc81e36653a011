"""A sweep's chart as plain geometry, which templates/_sweep_chart.html draws as inline SVG.

Drawn on the server, so it needs no JavaScript and no chart library, and sits under the CSP.
One knob: a panel per unit (shares, tokens, milliseconds, dollars), a line per measure over
the knob's values. Two knobs: a heatmap of one chosen measure. Every point links to its
answers; the table under the chart says the same in text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.engine.knobs import knob_text
from app.engine.sweeps.measures import MEASURE_BY_NAME, Measure, Unit, shown_measures
from app.storage.sweeps import SavedSweep

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48
# Colours told apart with a colour-blind eye, and a dash pattern each for print.
SERIES_STYLES = (("#1f77b4", ""), ("#d62728", "6 3"), ("#2ca02c", "2 3"))
UNIT_TITLES: dict[Unit, str] = {
    "share": "share of samples (%)",
    "tokens": "tokens",
    "ms": "time",
    "USD": "US dollars",
}


def format_value(value: float | None, unit: Unit) -> str:
    """A measure's value as the chart, the table and the heatmap write it."""
    if value is None:
        return "–"
    if unit == "share":
        return f"{value * 100:.0f}%"
    if unit == "ms":  # as the answers' stats say it (templating's `ms` filter)
        return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"
    if unit == "USD":
        return f"${value:.4f}"
    return f"{value:,.1f}"


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    point: int
    label: str  # the point, `temperature=0.3`
    text: str  # its value, `33%`


@dataclass(frozen=True)
class Series:
    measure: Measure
    colour: str
    dash: str
    dots: list[Dot]

    @property
    def path(self) -> str:
        return " ".join(f"{d.x:.1f},{d.y:.1f}" for d in self.dots)


@dataclass(frozen=True)
class Panel:
    """One line chart: the measures that share a unit."""

    unit: Unit
    title: str
    x_title: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]
    summary: str

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT


def _nice_top(high: float) -> float:
    """A round top for an axis: 1, 2 or 5 times a power of ten, at or above `high`."""
    if high <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(high))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= high)


def _steps(top: float) -> int:
    """Intervals that give round ticks under `top`: 2 in 4 halves, 1 and 5 in fifths."""
    mantissa = top / 10 ** math.floor(math.log10(top))
    return 4 if round(mantissa) == 2 else 5


def _x_positions(values: list[float | int | str]) -> list[float]:
    """Numbers on a linear scale; choices (reasoning_effort) evenly spaced."""
    span = WIDTH - RIGHT - LEFT
    numbers = [v for v in values if isinstance(v, int | float)]
    if len(numbers) == len(values) and len(values) > 1 and max(numbers) > min(numbers):
        low, high = min(numbers), max(numbers)
        return [LEFT + (float(v) - low) / (high - low) * span for v in numbers]
    if len(values) == 1:
        return [LEFT + span / 2]
    return [LEFT + i * span / (len(values) - 1) for i in range(len(values))]


def line_panels(sweep: SavedSweep) -> list[Panel]:
    """One knob's chart: a panel per unit, a series per measure that has values."""
    knob, values = sweep.vary[0].knob, sweep.vary[0].values
    # Every value has its place, finished or not: a running sweep's axis stays put.
    xs = dict(zip(values, _x_positions(values), strict=True))
    x_ticks = [Tick(x, knob_text(v)) for v, x in xs.items()]
    stats = [p.stats for p in sweep.points]
    measures = shown_measures(stats)
    panels = []
    for unit in UNIT_TITLES:
        mine = [m for m in measures if m.unit == unit]
        if not mine:
            continue
        found = [s.value(m.name) for m in mine for s in stats]
        top = 1.0 if unit == "share" else _nice_top(max(v for v in found if v is not None))
        scale = (HEIGHT - BOTTOM - TOP) / top

        def y(value: float, scale: float = scale) -> float:
            return HEIGHT - BOTTOM - value * scale

        steps = 4 if unit == "share" else _steps(top)
        y_ticks = [
            Tick(y(top * i / steps), format_value(top * i / steps, unit)) for i in range(steps + 1)
        ]
        series = []
        for measure, (colour, dash) in zip(mine, SERIES_STYLES, strict=False):
            dots = []
            for index, (point, point_stats) in enumerate(zip(sweep.points, stats, strict=True)):
                value = point_stats.value(measure.name)
                if value is not None:
                    x, text = xs[point.values[knob]], format_value(value, unit)
                    dots.append(Dot(x, y(value), index, point.label, text))
            series.append(Series(measure, colour, dash, dots))
        summary = "; ".join(_trend(s) for s in series)
        panels.append(Panel(unit, UNIT_TITLES[unit], knob, x_ticks, y_ticks, series, summary))
    return panels


def _trend(series: Series) -> str:
    """`distinct answers ÷ samples: 33% at temperature=0 to 100% at temperature=1.2`"""
    if not series.dots:
        return f"{series.measure.label}: no values"
    first, last = series.dots[0], series.dots[-1]
    return f"{series.measure.label}: {first.text} at {first.label} to {last.text} at {last.label}"


@dataclass(frozen=True)
class Cell:
    x: float
    y: float
    point: int
    fill: str
    ink: str
    text: str
    title: str


@dataclass(frozen=True)
class Heatmap:
    measure: Measure
    row_knob: str
    column_knob: str
    rows: list[Tick]
    columns: list[Tick]
    cells: list[Cell]
    cell_width: float
    cell_height: float
    width: int
    height: int
    top_text: str
    left: int = 96
    top: int = 40


def heatmap(sweep: SavedSweep, measure_name: str) -> Heatmap:
    """Two knobs: rows are the first knob's values, columns the second's."""
    measure = MEASURE_BY_NAME.get(measure_name) or MEASURE_BY_NAME["distinct_share"]
    row_knob, column_knob = sweep.vary[0].knob, sweep.vary[1].knob
    row_values, column_values = sweep.vary[0].values, sweep.vary[1].values
    cell_w, cell_h, left, top = 88.0, 44.0, 96, 40
    values = [p.stats.value(measure.name) for p in sweep.points]
    known = [v for v in values if v is not None]
    top_value = 1.0 if measure.unit == "share" else _nice_top(max(known, default=0.0))
    cells = []
    for index, (point, value) in enumerate(zip(sweep.points, values, strict=True)):
        # By its values, not its place in the list: a running sweep has only some points.
        r = row_values.index(point.values[row_knob])
        c = column_values.index(point.values[column_knob])
        share = 0.0 if value is None else min(value / top_value, 1.0)
        fill = "#eeeeee" if value is None else _shade(share)
        text = format_value(value, measure.unit)
        cells.append(
            Cell(
                left + c * cell_w,
                top + r * cell_h,
                index,
                fill,
                "#ffffff" if share > 0.55 else "#111111",
                text,
                f"{point.label}: {measure.label} {text}",
            )
        )
    return Heatmap(
        measure,
        row_knob,
        column_knob,
        [Tick(top + (i + 0.5) * cell_h, knob_text(v)) for i, v in enumerate(row_values)],
        [Tick(left + (i + 0.5) * cell_w, knob_text(v)) for i, v in enumerate(column_values)],
        cells,
        cell_w,
        cell_h,
        int(left + len(column_values) * cell_w + 16),
        int(top + len(row_values) * cell_h + 16),
        format_value(top_value, measure.unit),
    )


# The heatmap's scale: from nearly white to the page's accent blue; the text turns white on
# the darker half so that it stays legible.
_LIGHT, _DARK = (240, 244, 248), (47, 93, 138)


def _shade(share: float) -> str:
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(_LIGHT, _DARK, strict=True))
    return f"rgb({r},{g},{b})"
