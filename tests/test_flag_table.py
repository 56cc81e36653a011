"""The flag table (app/engine/flags.py) is every flag, and whatever cannot read it agrees with it.

The Flags model, the runs table and RunSummary, the page's wording of each flag, the exports
and the table in docs/results.md are each checked against the records, so that a flag added,
renamed or dropped in one place and not in another fails here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.engine.flags import (
    COUNTED_FLAGS,
    FLAG_BY_NAME,
    FLAGS,
    GUESSED_LENGTH,
    Flag,
    Flags,
    flag_kinds,
    rerun_flag,
    rerun_max_tokens,
)
from app.engine.knobs import KNOB_BY_NAME
from app.engine.presets import Preset
from app.engine.results import Column
from app.storage.exports import FLAG_DETAILS, flags_text
from app.storage.saved import RunSummary, summarize
from app.storage.store import RUNS
from app.web.templating import build_templates
from tests.conftest import services
from tests.sample_runs import column, make_run, sample

templates = build_templates()

DOCS = Path(__file__).resolve().parent.parent / "docs" / "results.md"
TABLE_HEAD = "| Flag | What it means | Counted in the history | Rerun |"
BOOLS = [name for name, field in Flags.model_fields.items() if field.annotation is bool]
# The integer columns and fields that are not flag counts.
NOT_COUNTS = {"seq", "samples", "failed"}


def situations() -> Iterator[tuple[Flags, int]]:
    """Every combination of the Flags booleans, with one sample answered and with two."""
    for values in itertools.product((False, True), repeat=len(BOOLS)):
        for answered in (1, 2):
            yield Flags(**dict(zip(BOOLS, values, strict=True)), distinct=2), answered


def flipped(flags: Flags, name: str) -> Flags:
    return flags.model_copy(update={name: not getattr(flags, name)})


def test_names_labels_and_columns_are_each_used_once():
    for attribute in ("name", "label", "column"):
        values = [getattr(f, attribute) for f in FLAGS if getattr(f, attribute) is not None]
        assert len(values) == len(set(values)), attribute


@pytest.mark.parametrize("flag", FLAGS, ids=lambda f: f.name)
def test_each_flag_can_show_and_its_field_decides_it(flag: Flag):
    assert flag.field in BOOLS, f"{flag.name} reads {flag.field}, which Flags has no bool for"
    assert any(flag.shown(f, n) for f, n in situations()), f"{flag.name} never shows"
    assert any(
        flag.shown(f, n) != flag.shown(flipped(f, flag.field), n) for f, n in situations()
    ), f"{flag.name} does not depend on Flags.{flag.field}, the field it names"


@pytest.mark.parametrize("name", BOOLS)
def test_every_boolean_of_the_flags_model_is_read_by_a_flag(name: str):
    assert any(flag_kinds(f, n) != flag_kinds(flipped(f, name), n) for f, n in situations()), (
        f"Flags.{name} changes no flag a column shows: declare it in app/engine/flags.py"
    )


def docs_row(flag: Flag) -> str:
    counted = "yes" if flag.column is not None else "no"
    return f"| **{flag.label.capitalize()}** | {flag.help} | {counted} | {flag.rerun or '–'} |"


def test_the_docs_flag_table_is_the_declared_flags():
    expected = [TABLE_HEAD, "| --- | --- | --- | --- |", *map(docs_row, FLAGS)]
    lines = DOCS.read_text().splitlines()
    start = lines.index(TABLE_HEAD) if TABLE_HEAD in lines else len(lines)
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    assert table == expected, (
        "docs/results.md's flag table does not say what app/engine/flags.py says; it should "
        "read:\n\n" + "\n".join(expected)
    )


def test_each_counted_flag_is_a_runs_column_and_a_summary_field():
    counted = {flag.column for flag in COUNTED_FLAGS}
    integers = {c.name for c in RUNS.c if isinstance(c.type, sa.Integer)} - NOT_COUNTS
    fields = {n for n, f in RunSummary.model_fields.items() if f.annotation is int} - NOT_COUNTS
    assert integers == counted, "the runs table's flag counts (app/storage/store.py)"
    assert fields == counted, "RunSummary's flag counts (app/storage/saved.py)"


def showing(flags: Flags) -> Column:
    """A column of two answered samples, cut at max_tokens=8, with these flags."""
    shown = column(Preset(max_tokens=8), [sample("a"), sample("b", finish_reason="length")])
    shown.flags = flags
    return shown


def first_showing(flag: Flag) -> Column:
    return showing(next(f for f, n in situations() if n == 2 and flag.shown(f, n)))


def test_the_history_counts_each_counted_flag_as_the_page_shows_it():
    run = make_run(columns=[first_showing(flag) for flag in FLAGS])
    summary = summarize(run)
    for flag in COUNTED_FLAGS:
        shown = sum(flag.name in flag_kinds(c.flags, 2) for c in run.columns)
        assert getattr(summary, str(flag.column)) == shown, flag.name


def test_the_history_page_names_each_counted_flag(client: TestClient):
    run = make_run(columns=[first_showing(flag) for flag in FLAGS])
    summary = summarize(run)
    services(client).store.save(run)
    page = client.get("/runs").text
    for flag in COUNTED_FLAGS:
        count = getattr(summary, str(flag.column))
        assert f'<span class="flag {flag.name}">{count} {flag.label}</span>' in page


def items(html: str) -> list[tuple[str, str]]:
    """Each flag's line on the page: its name and its text, tags left out."""
    found = re.findall(r'<li class="flag (\w+)">(.*?)</li>', html, re.DOTALL)
    return [(kind, " ".join(re.sub(r"<[^>]+>", " ", text).split())) for kind, text in found]


def test_the_page_words_every_flag_and_offers_a_rerun_once():
    for flags, answered in situations():
        if answered != 2:  # the template counts the column's own two samples
            continue
        shown = showing(flags)
        html = templates.get_template("_flags.html").render(
            column=shown, flags=flags, index=0, read_only=False
        )
        kinds = flag_kinds(flags, 2)
        assert [kind for kind, _ in items(html)] == kinds
        for kind, text in items(html):
            label = FLAG_BY_NAME[kind].label.capitalize()
            assert text.startswith(label) and len(text) > len(label) + 20, (kind, text)
        doubled = rerun_max_tokens(8, [3, 3])
        button = f"Rerun with max_tokens={doubled}"
        offered = [kind for kind, text in items(html) if button in text]
        assert offered == ([rerun_flag(kinds)] if rerun_flag(kinds) else []), kinds
        assert html.count(button) == len(offered)


def test_the_exports_name_every_flag_with_its_label():
    assert set(FLAG_DETAILS) <= set(FLAG_BY_NAME), "app/storage/exports.py names no such flag"
    for flag in FLAGS:
        shown = first_showing(flag)
        labels = [FLAG_BY_NAME[k].label for k in flag_kinds(shown.flags, 2)]
        parts = flags_text(shown).split(", ")
        assert [p[: len(label)] for p, label in zip(parts, labels, strict=True)] == labels


def test_a_rerun_doubles_max_tokens_else_the_longest_answer_else_a_guess():
    high = int(KNOB_BY_NAME["max_tokens"].high or 0)
    assert rerun_max_tokens(8, [3]) == 16
    assert rerun_max_tokens(None, [None, 30, 12]) == 60
    assert rerun_max_tokens(None, [None, 0]) == 2 * GUESSED_LENGTH
    assert rerun_max_tokens(high - 1, []) == high
