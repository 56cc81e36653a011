"""Two samples compared word by word, picked from any columns of a run: the picker under the
results and the diff it asks for, as a fragment (htmx) or on the run's own page.

Samples are named `C.S` (column and sample, from 1) in the picker's values and the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.engine.agreement import similarity
from app.engine.probabilities import Split, first_split
from app.engine.results import Column, Sample
from app.engine.word_diff import Piece, counts, word_diff
from app.storage.saved import SavedRun
from app.web.comparisons import Finished
from app.web.deps import StoreDep
from app.web.errors import not_found_page
from app.web.templating import page

router = APIRouter()
_PICK = re.compile(r"^(\d{1,2})\.(\d{1,2})$")


@dataclass(frozen=True)
class DiffView:
    a_label: str
    b_label: str
    pieces: list[Piece]
    inserted: int
    deleted: int
    similarity: float | None
    split: Split | None  # where their tokens first differ, when both have probabilities


@dataclass(frozen=True)
class Review:
    """What the review section under the columns shows (templates/_review.html)."""

    columns: list[Column]
    cost: float | None
    matrix: list[list[float | None]] | None
    run_id: str | None
    choices: list[tuple[str, str]] = field(default_factory=list)
    a: str = "1.1"
    b: str = "2.1"


def choices(columns: list[Column]) -> list[tuple[str, str]]:
    """Every answered sample as (value, label): `("2.1", "Balanced · sample 1")`."""
    return [
        (f"{c + 1}.{s + 1}", f"{column.preset.title(c)} · sample {s + 1}")
        for c, column in enumerate(columns)
        for s, sample in enumerate(column.samples)
        if sample.error is None or sample.text
    ]


def review(
    columns: list[Column],
    cost: float | None,
    matrix: list[list[float | None]] | None,
    run_id: str | None,
) -> Review:
    """The review of a finished run; the picker starts at the first samples of two columns."""
    picks = choices(columns)
    values = [value for value, _ in picks] or [""]
    # B: the first sample of another column, else the second of the same one.
    b = next((v for v in values if not v.startswith("1.")), (values[1:] or [""])[0])
    return Review(columns, cost, matrix, run_id, picks, values[0], b)


def review_of(finished: Finished) -> Review | None:
    """The review of a comparison the page just ran; None for a rerun of one column, where
    the run's review stays as it was."""
    done = finished.comparison
    if len(done.columns) < 2:
        return None
    return review(done.columns, done.cost, done.agreement, finished.run_id)


def diff(columns: list[Column], a: str, b: str) -> DiffView | str:
    """The diff of samples `a` and `b`, or why there is none, in words."""
    labels = dict(choices(columns))
    picked: list[Sample] = []
    for name, value in (("A", a), ("B", b)):
        match = _PICK.match(value)
        if match is None or value not in labels:
            return f"Sample {name} is not one of this run's answers: pick one from the list."
        picked.append(columns[int(match[1]) - 1].samples[int(match[2]) - 1])
    one, other = picked
    pieces = word_diff(one.text, other.text)
    split = first_split([one.logprobs, other.logprobs])
    score = similarity(one.text, other.text)
    return DiffView(labels[a], labels[b], pieces, *counts(pieces), score, split)


def for_run(run: SavedRun, a: str | None, b: str | None) -> dict[str, object]:
    """The review section of a saved run's page, with the diff asked for, if any."""
    shown = review(run.columns, run.cost, run.agreement, run.id)
    context: dict[str, object] = {"review": shown}
    if a is not None or b is not None:
        found = diff(run.columns, a or "", b or "")
        context["diff" if isinstance(found, DiffView) else "diff_problem"] = found
        context["review"] = replace(shown, a=a or shown.a, b=b or shown.b)  # as picked
    return context


@router.get("/r/{run_id}/diff", response_class=HTMLResponse, include_in_schema=False)
def show_diff(request: Request, run_id: str, store: StoreDep, a: str = "", b: str = "") -> Response:
    """Two samples of a saved run, word by word: the fragment htmx swaps in."""
    run = store.get(run_id)
    if run is None:
        return not_found_page(request)
    return page(request, "_diff.html", for_run(run, a, b))
