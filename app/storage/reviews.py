"""Blind reviews and their votes, beside the runs, sweeps and evals they review.

A review stores what it reviews (kind and id), a secret seed for each reviewer's order of the
answers (app/engine/reviews/order.py) and whether it is closed; the answers are read from the
reviewed item each time (`material`), so a review of an eval still running grows with it. A
vote is one row per reviewer and case, replaced when changed.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from app.engine.evals.cases import Turn
from app.engine.results import Column
from app.engine.reviews.tally import Vote
from app.storage.evals import StoredEval
from app.storage.saved import SavedRun, excerpt, utc_now
from app.storage.store import ID_BYTES, RunStore, valid_id
from app.storage.sweeps import SavedSweep

Kind = Literal["run", "sweep", "eval"]
MAX_NOTE = 200
LONG_ANSWER = 1_200  # characters: longer answers fold

REVIEWS = sa.Table(
    "reviews",
    sa.MetaData(),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64)),
    sa.Column("created_at", sa.String(40)),
    sa.Column("kind", sa.String(10)),
    sa.Column("item_id", sa.String(64)),
    sa.Column("title", sa.Text),
    sa.Column("seed", sa.String(64)),
    sa.Column("closed", sa.Boolean),
    sa.Column("author", sa.String(200)),
)
VOTES = sa.Table(
    "review_votes",
    sa.MetaData(),
    sa.Column("review_id", sa.String(64), primary_key=True),
    sa.Column("reviewer", sa.String(200), primary_key=True),
    sa.Column("case_index", sa.Integer, primary_key=True),
    sa.Column("winner", sa.Integer),
    sa.Column("shown", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("voted_at", sa.Float),
)

REVIEWERS = sa.Table(
    "review_reviewers",
    sa.MetaData(),
    sa.Column("review_id", sa.String(64), primary_key=True),
    sa.Column("reviewer", sa.String(200), primary_key=True),
    sa.Column("slot", sa.Integer),
)
SLOT_ATTEMPTS = 5


class Review(BaseModel):
    id: str
    created_at: str
    kind: Kind
    item_id: str
    title: str
    seed: str = Field(exclude=True, repr=False)  # never shown: it would give the orders away
    closed: bool
    author: str | None = None


class ReviewCase(BaseModel):
    """One case as reviewers see it: what was asked, and each preset's answers."""

    prompt: str
    system: str | None = None
    turns: list[Turn] | None = None
    answers: dict[int, list[str]] = Field(description="by preset: its answered samples' texts")

    @property
    def shown(self) -> list[int]:
        """The presets with an answer to show, at most eight (keys 1–8)."""
        return [p for p, texts in sorted(self.answers.items()) if texts]


class Material(BaseModel):
    """What a review shows: the presets' names (for the results only) and the cases."""

    names: list[str]
    cases: list[ReviewCase]


def _answers(columns: Sequence[Column | None]) -> dict[int, list[str]]:
    return {
        i: [s.text for s in column.samples if s.error is None and s.text.strip()]
        for i, column in enumerate(columns)
        if column is not None
    }


def run_material(run: SavedRun) -> Material:
    names = [c.preset.title(i) for i, c in enumerate(run.columns)]
    case = ReviewCase(prompt=run.prompt, system=run.system, answers=_answers(run.columns))
    return Material(names=names, cases=[case])


def sweep_material(sweep: SavedSweep) -> Material:
    names = [p.label for p in sweep.points]
    columns = [p.column for p in sweep.points]
    case = ReviewCase(prompt=sweep.prompt, system=sweep.system, answers=_answers(columns))
    return Material(names=names, cases=[case])


def eval_material(stored: StoredEval) -> Material:
    request = stored.request
    cells = stored.cell_map()
    cases = []
    for index, case in enumerate(request.cases):
        columns = [cells.get((index, p)) for p in range(len(request.presets))]
        cases.append(
            ReviewCase(
                prompt=request.prompt_of(index) or case.label(),
                system=request.system,
                turns=case.messages,
                answers=_answers(columns),
            )
        )
    return Material(names=[p.title(i) for i, p in enumerate(request.presets)], cases=cases)


class ReviewStore:
    """Reviews and votes in the run store's database."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs

    def create(self, kind: Kind, item_id: str, title: str, author: str | None) -> str:
        review_id = secrets.token_urlsafe(ID_BYTES)
        row = {
            "id": review_id,
            "created_at": utc_now(),
            "kind": kind,
            "item_id": item_id,
            "title": excerpt(title, 80),
            "seed": secrets.token_hex(16),
            "closed": False,
            "author": author,
        }
        with self.runs.connection(write=True) as conn:
            conn.execute(sa.insert(REVIEWS).values(row))
        return review_id

    def slot(self, review_id: str, reviewer: str) -> int:
        """This reviewer's number in the review, given on their first visit. Two arriving at
        once may both count the same number: the unique slot refuses one, who counts again."""
        mine = (REVIEWERS.c.review_id == review_id) & (REVIEWERS.c.reviewer == reviewer)
        for _ in range(SLOT_ATTEMPTS):
            with self.runs.connection() as conn:
                found = conn.scalar(sa.select(REVIEWERS.c.slot).where(mine))
            if found is not None:
                return int(found)
            try:
                with self.runs.connection(write=True) as conn:
                    taken = conn.scalar(
                        sa.select(sa.func.count()).where(REVIEWERS.c.review_id == review_id)
                    )
                    slot = int(taken or 0)
                    values = {"review_id": review_id, "reviewer": reviewer, "slot": slot}
                    conn.execute(sa.insert(REVIEWERS).values(values))
                    return slot
            except sa.exc.IntegrityError:
                continue
        raise RuntimeError("could not number this reviewer")  # pragma: no cover

    def get(self, review_id: str) -> Review | None:
        if not valid_id(review_id):
            return None
        with self.runs.connection() as conn:
            row = conn.execute(sa.select(REVIEWS).where(REVIEWS.c.id == review_id)).mappings()
            found = row.first()
        return None if found is None else Review.model_validate(dict(found))

    def close(self, review_id: str) -> None:
        with self.runs.connection(write=True) as conn:
            conn.execute(sa.update(REVIEWS).where(REVIEWS.c.id == review_id).values(closed=True))

    def vote(
        self,
        review_id: str,
        reviewer: str,
        case: int,
        winner: int | None,
        shown: list[int],
        note: str | None,
    ) -> None:
        """Record a vote, replacing this reviewer's earlier one on the case (in one commit)."""
        mine = (
            (VOTES.c.review_id == review_id)
            & (VOTES.c.reviewer == reviewer)
            & (VOTES.c.case_index == case)
        )
        row = {
            "review_id": review_id,
            "reviewer": reviewer,
            "case_index": case,
            "winner": winner,
            "shown": json.dumps(shown),
            "note": (note or "").strip()[:MAX_NOTE] or None,
            "voted_at": time.time(),
        }
        with self.runs.connection(write=True) as conn:
            conn.execute(sa.delete(VOTES).where(mine))
            conn.execute(sa.insert(VOTES).values(row))

    def withdraw(self, review_id: str, reviewer: str, case: int) -> None:
        with self.runs.connection(write=True) as conn:
            conn.execute(
                sa.delete(VOTES).where(
                    (VOTES.c.review_id == review_id)
                    & (VOTES.c.reviewer == reviewer)
                    & (VOTES.c.case_index == case)
                )
            )

    def votes(self, review_id: str) -> list[StoredVote]:
        with self.runs.connection() as conn:
            rows = conn.execute(
                sa.select(VOTES).where(VOTES.c.review_id == review_id).order_by(VOTES.c.voted_at)
            ).mappings()
            return [
                StoredVote(
                    reviewer=r["reviewer"],
                    case=r["case_index"],
                    winner=r["winner"],
                    shown=json.loads(r["shown"]),
                    note=r["note"],
                    voted_at=r["voted_at"],
                )
                for r in rows
            ]

    def of_item(self, kind: str, item_id: str) -> list[Review]:
        with self.runs.connection() as conn:
            rows = conn.execute(
                sa.select(REVIEWS)
                .where((REVIEWS.c.kind == kind) & (REVIEWS.c.item_id == item_id))
                .order_by(REVIEWS.c.seq)
            ).mappings()
            return [Review.model_validate(dict(r)) for r in rows]

    def counts(self, kind: str, item_ids: Sequence[str]) -> dict[str, int]:
        """How many reviews each of these items has, for a history's rows."""
        if not item_ids:
            return {}
        with self.runs.connection() as conn:
            rows = conn.execute(
                sa.select(REVIEWS.c.item_id, sa.func.count())
                .where((REVIEWS.c.kind == kind) & REVIEWS.c.item_id.in_(list(item_ids)))
                .group_by(REVIEWS.c.item_id)
            ).all()
        return {item: int(n) for item, n in rows}


class StoredVote(BaseModel):
    reviewer: str
    case: int
    winner: int | None = Field(description="the preset picked; null for a tie")
    shown: list[int] = Field(description="the presets shown side by side")
    note: str | None = None
    voted_at: float

    def as_vote(self) -> Vote:
        return Vote(self.reviewer, self.case, tuple(self.shown), self.winner)
