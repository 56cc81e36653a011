"""A saved run as CSV (one row per preset x sample) and as a Markdown table for issues.

CSV: empty cells are unset values; booleans are `true`/`false`; the stop list is JSON so
newlines in it stay visible. Text cells that a spreadsheet would run as a formula (they
start with = + - @, a tab or a carriage return) get a leading `'`, the usual guard.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from app.engine.analysis import count_answered, group_answers
from app.engine.flags import FLAG_LABELS, Flags, flag_kinds
from app.engine.knobs import KNOBS, knob_text
from app.engine.presets import Preset
from app.engine.results import Column, Sample
from app.storage.saved import SavedRun, excerpt

FLAG_FIELDS = tuple(Flags.model_fields)
# Each sample's cells, in order: the header and the rows both read this one list.
SAMPLE_CELLS: tuple[tuple[str, Callable[[Sample], Any]], ...] = (
    ("text", lambda s: s.text),
    ("refusal", lambda s: s.refusal),
    ("finish_reason", lambda s: s.finish_reason),
    ("prompt_tokens", lambda s: s.usage.prompt_tokens),
    ("completion_tokens", lambda s: s.usage.completion_tokens),
    ("reasoning_tokens", lambda s: s.usage.reasoning_tokens),
    ("queued_ms", lambda s: s.queued_ms),
    ("ttft_ms", lambda s: s.ttft_ms),
    ("first_token_ms", lambda s: s.first_token_ms),
    ("latency_ms", lambda s: s.latency_ms),
    ("tokens_per_second", lambda s: s.tokens_per_second),
    ("prompt_ms", lambda s: s.prompt_ms),
    ("generation_ms", lambda s: s.generation_ms),
    ("system_fingerprint", lambda s: s.system_fingerprint),
    ("response_model", lambda s: s.model),
    ("error", lambda s: s.error),
    ("incomplete", lambda s: s.incomplete),
    ("cost", lambda s: s.cost),
)
SAMPLE_FIELDS = ("sample", *(name for name, _ in SAMPLE_CELLS))
# What the column as a whole comes to, repeated on each of its rows.
COLUMN_CELLS: tuple[tuple[str, Callable[[Column], Any]], ...] = (
    ("column_cost", lambda c: c.cost),
    ("agreement", lambda c: c.agreement.similarity if c.agreement else None),
    ("agree_in_substance", lambda c: c.agreement.substance if c.agreement else None),
)
CSV_FIELDS = (
    "run_id",
    "column",
    "preset",
    "model",
    *(k.name for k in KNOBS),
    *SAMPLE_FIELDS,
    *FLAG_FIELDS,
    *(name for name, _ in COLUMN_CELLS),
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Order matters: backslashes first and `&` before the entities, so nothing is escaped twice.
_MD_ESCAPES = (
    ("\\", "\\\\"),
    ("|", "\\|"),
    ("&", "&amp;"),
    ("<", "&lt;"),
    (">", "&gt;"),
    ("\n", "<br>"),
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return knob_text(value)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_row(run: SavedRun, index: int, column: Column, number: int, sample: Sample) -> list[str]:
    values: list[Any] = [run.id, index + 1, column.preset.title(index), column.preset.model]
    values += [getattr(column.preset, k.name) for k in KNOBS]
    values += [number + 1, *(cell(sample) for _, cell in SAMPLE_CELLS)]
    values += [getattr(column.flags, name) for name in FLAG_FIELDS]
    values += [cell(column) for _, cell in COLUMN_CELLS]
    return [_cell(v) for v in values]


def to_csv(run: SavedRun) -> str:
    """One row per preset x sample: every knob, stat and flag as its own column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for index, column in enumerate(run.columns):
        for number, sample in enumerate(column.samples):
            writer.writerow(_csv_row(run, index, column, number, sample))
    return out.getvalue()


def md_cell(value: str) -> str:
    """Text for a Markdown table cell, shown literally: pipes, HTML and newlines escaped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    for raw, escaped in _MD_ESCAPES:
        value = value.replace(raw, escaped)
    return value


def _fence(value: str) -> str:
    """A fenced block longer than any run of backticks inside, so nothing breaks out."""
    ticks = 3
    while "`" * ticks in value:
        ticks += 1
    return f"{'`' * ticks}text\n{value}\n{'`' * ticks}"


def settings_text(preset: Preset) -> str:
    parts = [f"model={preset.model}"] if preset.model else []
    for name, value in preset.knobs().items():
        shown = json.dumps(value, ensure_ascii=False) if name == "stop" else knob_text(value)
        parts.append(f"{name}={shown}")
    return ", ".join(parts) or "endpoint defaults"


def _distinct(column: Column, answered: int) -> str:
    return f": {column.flags.distinct} distinct of {answered}"


# What follows a flag's label in the exports: how much of it there was. Keyed by the names in
# app/engine/flags.py (tests/test_flag_table.py checks them).
FLAG_DETAILS: dict[str, Callable[[Column, int], str]] = {
    "truncated": lambda column, _: (
        f" {sum(s.finish_reason == 'length' for s in column.samples)}/{len(column.samples)}"
    ),
    "unexpected": _distinct,
    "nondeterministic": _distinct,
    "repeatable": lambda _, answered: f": {answered} identical",
}


def flags_text(column: Column) -> str:
    """`truncated 1/2, nondeterministic: 2 distinct of 2`: each flag the page shows."""
    answered = count_answered(column.samples)
    found = [
        FLAG_LABELS[kind] + (FLAG_DETAILS[kind](column, answered) if kind in FLAG_DETAILS else "")
        for kind in flag_kinds(column.flags, answered)
    ]
    return ", ".join(found) or "–"


def stats_text(number: int, sample: Sample) -> str:
    """`#2 stop · 12/40 tok · 30 reasoning tok · queued 6.20 s · TTFT 85 ms · first token
    20 ms · 1.20 s · 33.3 tok/s`, unknowns left out; reasoning tokens are part of the 40, the
    queue is part of neither TTFT nor the total."""
    usage = sample.usage
    parts = [f"#{number + 1} {sample.finish_reason or 'no finish'}"]
    if usage.completion_tokens is not None:
        parts.append(f"{usage.prompt_tokens or '?'}/{usage.completion_tokens} tok")
    if usage.reasoning_tokens is not None:
        parts.append(f"{usage.reasoning_tokens} reasoning tok")
    if sample.queued_ms:
        parts.append(f"queued {sample.queued_ms / 1000:.2f} s")
    if sample.ttft_ms is not None:
        parts.append(f"TTFT {sample.ttft_ms:.0f} ms")
    if sample.first_token_ms is not None and sample.first_token_ms != sample.ttft_ms:
        parts.append(f"first token {sample.first_token_ms:.0f} ms")
    if sample.latency_ms is not None:
        parts.append(f"{sample.latency_ms / 1000:.2f} s")
    if sample.tokens_per_second is not None:
        parts.append(f"{sample.tokens_per_second} tok/s")
    if sample.cost is not None:
        parts.append(f"${sample.cost:.6g}")
    return " · ".join(parts)


def _answers(column: Column) -> list[tuple[str, list[int]]]:
    """Each distinct answer with the samples that gave it; a failure stands alone."""
    return [(column.samples[ix[0]].text, ix) for ix in group_answers(column.samples)]


def to_markdown(run: SavedRun, url: str | None = None) -> str:
    """A heading, the prompt, and a table: one row per preset x distinct answer."""
    lines = [f"# Knobs run: {md_cell(excerpt(run.prompt, 80))}", ""]
    about = f"{run.created_at} · {run.samples} sample(s) per preset"
    about += f" · endpoint {md_cell(', '.join(run.endpoints))}" if run.endpoints else ""
    about += f" · [permalink]({url})" if url else ""
    lines += [about, ""]
    if run.system:
        lines += ["System:", "", _fence(run.system), ""]
    lines += ["Prompt:", "", _fence(run.prompt), ""]
    if run.stopped:
        lines += ["_Stopped before every answer was complete._", ""]
    lines += [
        "| Preset | Settings | Flags | Samples | Answer | Stats |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for index, column in enumerate(run.columns):
        head = [column.preset.title(index), settings_text(column.preset), flags_text(column)]
        for answer, indexes in _answers(column):
            first = column.samples[indexes[0]]
            shown = f"**failed:** {md_cell(first.error)}" if first.error else ""
            shown += f"**refused:** {md_cell(first.refusal)}" if first.refusal else ""
            shown += (" " if shown and answer else "") + md_cell(answer)
            stats = "<br>".join(md_cell(stats_text(i, column.samples[i])) for i in indexes)
            which = ", ".join(str(i + 1) for i in indexes)
            cells = [md_cell(h) for h in head] + [which, shown or "_(empty)_", stats]
            lines.append("| " + " | ".join(cells) + " |")
    changes = [
        f"- **{md_cell(column.preset.title(index))}**: {md_cell(change.message)}"
        for index, column in enumerate(run.columns)
        for change in column.adjustments
    ]
    if changes:
        lines += ["", "Changed so that the models accept the requests:", "", *changes]
    if run.cost is not None:
        lines += ["", f"Cost of this comparison: ${run.cost:.6g}"]
    return "\n".join(lines) + "\n"
