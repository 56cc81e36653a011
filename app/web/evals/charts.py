"""The pass-rate chart's geometry: a bar per preset, with its 95% interval as a whisker.
Drawn on the server as SVG (templates/_eval_bars.html); the table beside it says the same in
text, for screen readers and for copying."""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.evals.figures import PresetFigures

WIDTH = 420  # the plot's width in SVG units, 0% to 100%
LABEL = 150  # room for the preset's name on the left
ROW = 28
BAR = 14


@dataclass(frozen=True)
class Bar:
    name: str
    y: float
    width: float  # the pass rate
    low: float  # the interval's ends
    high: float
    text: str  # "80% (49–94%)"


@dataclass(frozen=True)
class Bars:
    bars: list[Bar]
    height: int
    ticks: list[tuple[float, str]]
    label: int = LABEL
    width: int = WIDTH
    row: int = ROW
    bar: int = BAR


def pass_rate_bars(presets: list[PresetFigures]) -> Bars | None:
    """None when no preset has a pass rate yet (no checks, or nothing has run)."""
    shown = [p for p in presets if p.pass_rate is not None and p.interval is not None]
    if not shown:
        return None
    bars = []
    for row, figures in enumerate(shown):
        assert figures.pass_rate is not None and figures.interval is not None
        low, high = figures.interval
        bars.append(
            Bar(
                name=figures.preset if len(figures.preset) <= 22 else figures.preset[:21] + "…",
                y=row * ROW + 6,
                width=figures.pass_rate * WIDTH,
                low=low * WIDTH,
                high=high * WIDTH,
                text=f"{figures.pass_rate:.0%} ({low:.0%}–{high:.0%})",
            )
        )
    ticks = [(share * WIDTH, f"{share:.0%}") for share in (0, 0.25, 0.5, 0.75, 1)]
    return Bars(bars=bars, height=len(bars) * ROW + 24, ticks=ticks)
