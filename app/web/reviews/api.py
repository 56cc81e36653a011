"""The blind review API: ask for a review of a run, a sweep or an eval; see a case as a
reviewer does (letters only); vote as the signed-in reviewer; read the results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from app.engine.reviews.tally import Tally
from app.storage.reviews import MAX_NOTE, Kind, Material, Review
from app.web.deps import IdentityDep
from app.web.reviews.pages import NO_REVIEW, ReviewsDep, reviewer_of
from app.web.reviews.reviewing import GONE, Reviews

router = APIRouter(prefix="/api", tags=["api"])
MISSING: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such review, or what it reviews was deleted."}
}


class ReviewLink(BaseModel):
    id: str
    url: str = Field(description="the link to give reviewers")
    results: str = Field(description="the results page")


class CaseShown(BaseModel):
    case: int
    prompt: str
    system: str | None = None
    answers: dict[str, list[str]] = Field(description="by letter, in your order: the texts")
    tie_allowed: bool
    your_vote: str | None = None


class VoteIn(BaseModel):
    case: int = Field(ge=0, description="the case's index (0 for a run or a sweep)")
    choice: str = Field(description="a letter as GET …/cases/{case} shows it to you, or tie")
    note: str | None = Field(default=None, max_length=MAX_NOTE)


class Results(Tally):
    id: str
    closed: bool
    kind: Kind
    item_id: str


def _ask(request: Request, reviews: Reviews, kind: Kind, item_id: str, author: str) -> ReviewLink:
    try:
        review_id = reviews.ask(kind, item_id, author)
    except LookupError:
        raise HTTPException(404, detail=f"No {kind} has that id.") from None
    except ValueError as error:
        raise HTTPException(422, detail=str(error)) from None
    url = str(request.url_for("review_start", review_id=review_id))
    return ReviewLink(id=review_id, url=url, results=f"{url}/results")


@router.post("/runs/{run_id}/reviews", status_code=201, responses=MISSING)
def review_run(request: Request, run_id: str, reviews: ReviewsDep, who: IdentityDep) -> ReviewLink:
    """Ask for blind reviews of a saved run; answers the link for reviewers."""
    return _ask(request, reviews, "run", run_id, who.name)


@router.post("/sweeps/{sweep_id}/reviews", status_code=201, responses=MISSING)
def review_sweep(
    request: Request, sweep_id: str, reviews: ReviewsDep, who: IdentityDep
) -> ReviewLink:
    """Ask for blind reviews of a saved sweep (at most eight points)."""
    return _ask(request, reviews, "sweep", sweep_id, who.name)


@router.post("/evals/{eval_id}/reviews", status_code=201, responses=MISSING)
def review_eval(
    request: Request, eval_id: str, reviews: ReviewsDep, who: IdentityDep
) -> ReviewLink:
    """Ask for blind reviews of an eval: one case per eval case, its finished cells."""
    return _ask(request, reviews, "eval", eval_id, who.name)


def _loaded(reviews: Reviews, review_id: str) -> tuple[Review, Material]:
    review = reviews.store.get(review_id)
    if review is None:
        raise HTTPException(404, detail=NO_REVIEW)
    material = reviews.material(review)
    if material is None:
        raise HTTPException(404, detail=GONE)
    return review, material


async def _reviewer(request: Request, who: IdentityDep) -> str:
    name = reviewer_of(request, who)
    return name or who.name


ReviewerDep = Annotated[str, Depends(_reviewer)]


@router.get("/reviews/{review_id}/cases/{case}", responses=MISSING)
def review_case(review_id: str, case: int, reviews: ReviewsDep, reviewer: ReviewerDep) -> CaseShown:
    """A case as you, the reviewer, see it: the answers under letters in your order."""
    review, material = _loaded(reviews, review_id)
    if case not in reviews.reviewable(material):
        raise HTTPException(404, detail="This review has no such case to judge.")
    shown = reviews.shown(review, material, reviewer, case, every_sample=True)
    return CaseShown(
        case=case,
        prompt=shown.prompt,
        system=shown.system,
        answers=dict(shown.answers),
        tie_allowed=shown.tie_allowed,
        your_vote=shown.choice,
    )


@router.post("/reviews/{review_id}/votes", status_code=204, responses=MISSING)
def cast(review_id: str, body: VoteIn, reviews: ReviewsDep, reviewer: ReviewerDep) -> None:
    """Vote on a case as the signed-in reviewer; a second vote on the case replaces the first.
    422 says what is wrong (a letter not shown, a tie between more than two, a closed review)."""
    review, material = _loaded(reviews, review_id)
    try:
        reviews.vote(review, material, reviewer, body.case, body.choice, body.note)
    except ValueError as error:
        raise HTTPException(422, detail=str(error)) from None


@router.get("/reviews/{review_id}", responses=MISSING)
def review_results(review_id: str, reviews: ReviewsDep) -> Results:
    """Per preset wins, ties, losses and the win rate with its 95% interval; with three presets
    or more a Bradley–Terry strength with its interval; reviewers' agreement (Krippendorff's
    alpha); the number of reviewers and votes; and a verdict that says "not enough votes to
    tell" while the intervals overlap."""
    review, material = _loaded(reviews, review_id)
    tally = reviews.results(review, material)
    return Results(
        id=review.id, closed=review.closed, kind=review.kind, item_id=review.item_id, **dict(tally)
    )
