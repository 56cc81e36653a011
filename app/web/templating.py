"""The Jinja environment of every page and live view, with every filter and global the
templates use, all registered in `build_templates()`: nothing is set up on import, and a page
renders the same whichever modules were imported."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.engine.agreement import percent
from app.engine.analysis import count_answered, group_answers
from app.engine.capabilities import refused_knobs
from app.engine.flags import COUNTED_FLAGS, FLAG_LABELS, flag_kinds, rerun_flag, rerun_max_tokens
from app.engine.knobs import KNOB_BY_NAME, KNOBS, MAX_PRESETS, MIN_PRESETS, SAMPLES, knob_text
from app.engine.probabilities import closest_call, first_split, level, probability
from app.engine.results import Column, Sample
from app.engine.timing_notes import timing_notes
from app.engine.word_diff import Piece, counts, word_diff
from app.web import snippets
from app.web.services import services_of
from app.web.sweeps.chart import format_value

ROOT = Path(__file__).resolve().parents[2]


def _refused_settings(column: Column) -> list[str]:
    """The preset's own knobs the model did not take, as `temperature=0`."""
    knobs = column.preset.knobs()
    return [f"{n}={knob_text(knobs[n])}" for n in refused_knobs(column.adjustments, list(knobs))]


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


@dataclass(frozen=True)
class SampleGroup:
    indexes: list[int]


def _sample_groups(samples: list[Sample]) -> list[SampleGroup]:
    """Identical answers together; a failed sample always stands alone."""
    return [SampleGroup(indexes) for indexes in group_answers(samples)]


def _knob_summary(values: dict[str, str]) -> str:
    """What a column sets, in one line: `model=x · temperature=0.7`."""
    names = ["endpoint", "model", *(k.name for k in KNOBS)]
    parts = [f"{n}={values[n]}".replace("\n", " | ") for n in names if values.get(n)]
    return " · ".join(parts) or "all knobs unset (endpoint defaults)"


@dataclass(frozen=True)
class SampleDiff:
    """How one answer of a column differs from another, word by word."""

    a: int  # 0-based sample indexes
    b: int
    pieces: list[Piece]
    inserted: int
    deleted: int


def _sample_diffs(column: Column) -> list[SampleDiff]:
    """Each distinct answer against the column's first, once the column has finished."""
    groups = [g for g in group_answers(column.samples) if column.samples[g[0]].error is None]
    if len(groups) < 2:
        return []
    first = groups[0][0]
    diffs = []
    for group in groups[1:]:
        pieces = word_diff(column.samples[first].text, column.samples[group[0]].text)
        diffs.append(SampleDiff(first, group[0], pieces, *counts(pieces)))
    return diffs


def _money(value: float | None) -> str:
    """US dollars, to a millionth where small; "–" when unknown (never $0 for that)."""
    if value is None:
        return "–"
    if value == 0:
        return "$0 (free)"
    if value < 0.000001:
        return "< $0.000001"
    return "$" + (f"{value:.6f}".rstrip("0") if value < 0.01 else f"{value:.4f}")


def build_templates() -> Jinja2Templates:
    """The Jinja environment, with every global, filter and test the templates use: built
    once, by create_app(), and carried to routes and live views by the Services."""
    templates = Jinja2Templates(directory=ROOT / "templates")
    templates.env.globals.update(
        KNOBS=KNOBS,
        KNOB_BY_NAME=KNOB_BY_NAME,
        MAX_PRESETS=MAX_PRESETS,
        MIN_PRESETS=MIN_PRESETS,
        SAMPLES=SAMPLES,
        FLAG_LABELS=FLAG_LABELS,
        COUNTED_FLAGS=COUNTED_FLAGS,
    )
    templates.env.filters["count_answered"] = count_answered
    templates.env.filters["flag_kinds"] = flag_kinds
    templates.env.filters["rerun_flag"] = rerun_flag
    templates.env.filters["rerun_max_tokens"] = lambda column: rerun_max_tokens(
        column.preset.max_tokens, (s.usage.completion_tokens for s in column.samples)
    )
    templates.env.filters["sent_pretty"] = snippets.pretty
    templates.env.filters["curl"] = snippets.curl
    templates.env.filters["python_snippet"] = snippets.python
    templates.env.filters["base_url"] = snippets.base_url
    templates.env.filters["timing_notes"] = timing_notes
    templates.env.filters["flag_label"] = FLAG_LABELS.__getitem__
    templates.env.filters["measure"] = format_value  # a sweep measure in its unit
    templates.env.filters["refused_settings"] = _refused_settings
    templates.env.filters["ms"] = _ms
    templates.env.filters["sample_groups"] = _sample_groups
    templates.env.filters["add1"] = lambda n: n + 1
    templates.env.filters["knob_summary"] = _knob_summary
    templates.env.tests["startswith"] = lambda value, prefix: str(value).startswith(prefix)
    templates.env.filters["sample_diffs"] = _sample_diffs
    templates.env.filters["money"] = _money
    templates.env.filters["percent"] = lambda score: "–" if score is None else percent(score)
    templates.env.filters["first_split"] = lambda column: first_split(
        [s.logprobs if s.error is None else None for s in column.samples]
    )
    templates.env.filters["probability"] = probability
    templates.env.filters["closest_call"] = closest_call
    # A token as written in the page: quoted, so that its spaces show, escaped like any text.
    templates.env.filters["token"] = lambda text: json.dumps(text, ensure_ascii=False)
    templates.env.filters["sample_name"] = lambda number: f"sample {number}"
    templates.env.filters["level"] = level
    return templates


def templates_of(request: Request) -> Jinja2Templates:
    """The app's templates, as the request carries them (app/web/services.py)."""
    return services_of(request).templates


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A template rendered as the answer to `request`."""
    return templates_of(request).TemplateResponse(request, name, context, status_code, headers)
