"""What a blind review shows and records, whichever door asks (a page or the API).

A reviewer sees each case's answers under letters in an order of their own; nothing that
names a preset, its knobs, the model, tokens, time or cost is ever put in front of them (the
letters map back to presets on the server, by drawing the order again). The results name
the presets: they are shown to a reviewer only once they have voted on every case.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.engine.reviews.order import LETTERS, TIE, order_for, preset_of
from app.engine.reviews.tally import Tally, tally
from app.storage.evals import EvalStore
from app.storage.reviews import (
    Kind,
    Material,
    Review,
    ReviewStore,
    StoredVote,
    eval_material,
    run_material,
    sweep_material,
)
from app.storage.store import RunStore
from app.storage.sweeps import SweepStore

GONE = "What this review was about has been deleted; its votes are kept."
CLOSED = "This review is closed: its author closed it, and it takes no more votes."
TOO_WIDE = (
    f"A blind review shows at most {len(LETTERS)} answers side by side; this has {{count}}. "
    "Review a sweep with fewer points."
)


@dataclass(frozen=True)
class Shown:
    """One case as one reviewer sees it."""

    case: int
    cases: int
    prompt: str
    system: str | None
    turns: list[tuple[str, str]] | None
    answers: list[tuple[str, list[str]]]  # (letter, texts) in this reviewer's order
    choice: str | None  # this reviewer's vote, as a letter (or "tie")
    note: str | None
    tie_allowed: bool
    revealed: list[tuple[str, str]] | None  # (letter, preset) once voted, when asked
    done: bool  # this reviewer has judged every case


class Reviews:
    """Reviews with what they review: reads the runs, sweeps and evals they point at."""

    def __init__(
        self, store: ReviewStore, runs: RunStore, sweeps: SweepStore, evals: EvalStore
    ) -> None:
        self.store = store
        self.runs = runs
        self.sweeps = sweeps
        self.evals = evals

    def material(self, review: Review) -> Material | None:
        return self.material_of(review.kind, review.item_id)

    def material_of(self, kind: Kind, item_id: str) -> Material | None:
        if kind == "run":
            run = self.runs.get(item_id)
            return None if run is None else run_material(run)
        if kind == "sweep":
            sweep = self.sweeps.get(item_id)
            return None if sweep is None else sweep_material(sweep)
        stored = self.evals.get(item_id)
        return None if stored is None else eval_material(stored)

    def ask(self, kind: Kind, item_id: str, author: str | None) -> str:
        """A new review of the item; ValueError says why it cannot be reviewed blind."""
        material = self.material_of(kind, item_id)
        if material is None:
            raise LookupError(item_id)
        widest = max((len(c.shown) for c in material.cases), default=0)
        if len(material.names) > len(LETTERS):
            raise ValueError(TOO_WIDE.format(count=len(material.names)))
        if widest < 2:
            raise ValueError("A blind review needs two answers or more to compare side by side.")
        title = material.cases[0].prompt if len(material.cases) == 1 else f"{kind} review"
        return self.store.create(kind, item_id, title, author)

    def reviewable(self, material: Material) -> list[int]:
        """The cases with two answers or more to compare."""
        return [i for i, case in enumerate(material.cases) if len(case.shown) >= 2]

    def mine(self, review: Review, reviewer: str) -> dict[int, StoredVote]:
        return {v.case: v for v in self.store.votes(review.id) if v.reviewer == reviewer}

    def next_case(self, review: Review, material: Material, reviewer: str) -> int | None:
        """The first case this reviewer has not judged; None when they have judged all."""
        judged = self.mine(review, reviewer)
        return next((c for c in self.reviewable(material) if c not in judged), None)

    def shown(
        self,
        review: Review,
        material: Material,
        reviewer: str,
        case: int,
        every_sample: bool,
        reveal: bool = False,
    ) -> Shown:
        """The case in this reviewer's order; with `reveal`, once they have voted on it, which
        letter was which preset."""
        this = material.cases[case]
        order = order_for(review.seed, self.store.slot(review.id, reviewer), case, this.shown)
        mine = self.mine(review, reviewer)
        vote = mine.get(case)
        choice = None
        if vote is not None:
            choice = TIE if vote.winner is None else LETTERS[order.index(vote.winner)]
        return Shown(
            case=case,
            cases=len(material.cases),
            prompt=this.prompt,
            system=this.system,
            turns=[(t.role, t.content) for t in this.turns] if this.turns else None,
            answers=[
                (LETTERS[i], this.answers[p] if every_sample else this.answers[p][:1])
                for i, p in enumerate(order)
            ],
            choice=choice,
            note=vote.note if vote else None,
            tie_allowed=len(order) == 2,
            revealed=(
                [(LETTERS[i], material.names[p]) for i, p in enumerate(order)]
                if reveal and vote is not None
                else None
            ),
            done=all(c in mine for c in self.reviewable(material)),
        )

    def vote(
        self,
        review: Review,
        material: Material,
        reviewer: str,
        case: int,
        choice: str,
        note: str | None,
    ) -> None:
        """Record the reviewer's pick; ValueError says what is wrong with it."""
        if review.closed:
            raise ValueError(CLOSED)
        if case not in self.reviewable(material):
            raise ValueError(f"There is no case {case + 1} to judge in this review.")
        shown = material.cases[case].shown
        order = order_for(review.seed, self.store.slot(review.id, reviewer), case, shown)
        winner = preset_of(choice.strip(), order)
        self.store.vote(review.id, reviewer, case, winner, shown, note)

    def exported(self, kind: str, item_id: str) -> list[dict[str, object]]:
        """Every review of an item with its votes, naming the presets: for the item's JSON."""
        found = []
        for review in self.store.of_item(kind, item_id):
            material = self.material(review)
            names = material.names if material else []
            votes = [
                {
                    "case": v.case,
                    "reviewer": v.reviewer,
                    "picked": None if v.winner is None else names[v.winner],
                    "shown": [names[p] for p in v.shown],
                    "note": v.note,
                }
                for v in self.store.votes(review.id)
            ]
            found.append({"id": review.id, "closed": review.closed, "votes": votes})
        return found

    def latest_results(self, review: Review) -> Tally | None:
        material = self.material(review)
        return None if material is None else self.results(review, material)

    def results(
        self, review: Review, material: Material, votes: list[StoredVote] | None = None
    ) -> Tally:
        """The votes added up; `votes` when the caller has read them already."""
        if votes is None:
            votes = self.store.votes(review.id)
        return tally(material.names, [v.as_vote() for v in votes])
