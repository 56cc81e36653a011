"""An eval as CSV (one row per case × preset × sample, each check's result its own column)
and as Markdown (the presets' figures and the pairs' sentences), as a run's are
(app/storage/exports.py: the same cell rules, so a spreadsheet runs no formula)."""

from __future__ import annotations

import csv
import io
from typing import Any

from app.engine.knobs import KNOBS
from app.storage.evals import EvalView
from app.storage.exports import _cell, md_cell, settings_text

BASE_FIELDS = (
    "eval_id",
    "case",
    "case_label",
    "expected",
    "preset_index",
    "preset",
    "model",
    *(k.name for k in KNOBS),
    "sample",
    "text",
    "finish_reason",
    "error",
    "completion_tokens",
    "latency_ms",
    "cost_usd",
    "passed",
)


def to_csv(view: EvalView) -> str:
    """Every sample of every cell that has run, with each of its case's checks (described in
    `check_N`, its result in `check_N_passed`); `passed` is all of them."""
    most = max((len(row.checks) for row in view.cases), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    checks = [name for n in range(1, most + 1) for name in (f"check_{n}", f"check_{n}_passed")]
    writer.writerow([*BASE_FIELDS, *checks])
    presets = view.definition.presets
    for row in view.cases:
        for cell in row.cells:
            if cell is None:
                continue
            preset = presets[cell.preset]
            for number, sample in enumerate(cell.samples):
                values: list[Any] = [
                    view.id,
                    row.case + 1,
                    row.label,
                    row.expected,
                    cell.preset + 1,
                    preset.title(cell.preset),
                    preset.model,
                    *(getattr(preset, k.name) for k in KNOBS),
                    number + 1,
                    sample.text,
                    sample.finish_reason,
                    sample.error,
                    sample.completion_tokens,
                    sample.latency_ms,
                    sample.cost,
                    sample.passed,
                ]
                for described, result in zip(row.checks, sample.checks, strict=True):
                    values += [described, result]
                values += [None] * (2 * most - 2 * len(row.checks))
                writer.writerow([_cell(v) for v in values])
    return out.getvalue()


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def to_markdown(view: EvalView, url: str | None = None) -> str:
    """The presets' figures as a table, then what the pairs' tests say, to paste in an issue."""
    lines = [f"# Eval: {md_cell(view.definition.title())}", ""]
    if url:
        lines += [f"<{url}>", ""]
    done, total = view.progress.done, view.progress.total
    lines += [f"Status: {view.status}, {done} of {total} samples.", ""]
    lines += [
        "| Preset | Settings | Pass rate (95% interval) | Passed | "
        f"pass@{view.samples} | pass^{view.samples} | Truncated |",
        "|---|---|---|---|---|---|---|",
    ]
    presets = view.definition.presets
    for figures in view.presets:
        interval = (
            f" ({figures.interval[0]:.0%}–{figures.interval[1]:.0%})" if figures.interval else ""
        )
        cells = [
            md_cell(figures.preset),
            md_cell(settings_text(presets[figures.index])),
            _rate(figures.pass_rate) + interval,
            f"{figures.passes} of {figures.trials}",
            _rate(figures.pass_at_k),
            _rate(figures.pass_all_k),
            _rate(figures.truncation_rate),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if view.pairs:
        lines += ["", *(f"- {md_cell(pair.sentence)}" for pair in view.pairs)]
    return "\n".join(lines) + "\n"
