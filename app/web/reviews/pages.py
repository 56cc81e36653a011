"""The blind review pages: asking for a review (from a run, a sweep or an eval), the reviewer's
pages (one case at a time, one form each, keys 1–8 / t / n / u with JavaScript), and the
results.

Who votes: a signed-in user by their name; with a shared token or no sign-in at all, the name
a reviewer types once, kept in a cookie. A reviewer who comes back starts at the first case
they have not judged. The results name the presets, so a reviewer is sent there only once they
have judged every case.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.access.rules import Identity
from app.engine.reviews.order import TIE
from app.guard.refusal import refusal
from app.storage.reviews import LONG_ANSWER, Kind, Material, Review, StoredVote
from app.web.deps import IdentityDep, ServicesDep
from app.web.errors import not_found_page
from app.web.reviews.reviewing import GONE, Reviews
from app.web.saved_items import when
from app.web.services import Services
from app.web.templating import page

router = APIRouter(include_in_schema=False)
REVIEWER_COOKIE = "knobs_reviewer"
MAX_NAME = 60
NO_REVIEW = "No review has that id. The link may have been cut short."
SOURCES: dict[Kind, str] = {"run": "/r", "sweep": "/sweeps", "eval": "/evals"}


async def desk(services: ServicesDep) -> Reviews:
    return services.reviews


ReviewsDep = Annotated[Reviews, Depends(desk)]


def reviewer_of(request: Request, who: Identity) -> str | None:
    """Who votes: a named user, else the name this browser typed (a shared token is not a
    person: everyone signed in with it is "token")."""
    if who.via in ("password", "header"):
        return who.name
    typed = " ".join(request.cookies.get(REVIEWER_COOKIE, "").split())[:MAX_NAME]
    return typed or None


def _ask(request: Request, reviews: Reviews, kind: Kind, item_id: str, who: Identity) -> Response:
    try:
        review_id = reviews.ask(kind, item_id, who.name)
    except LookupError:
        return not_found_page(request, f"No {kind} has that id, so there is nothing to review.")
    except ValueError as error:
        return refusal(request.scope, 422, "Cannot review this blind", str(error))
    return RedirectResponse(f"/reviews/{review_id}/results", status_code=303)


@router.post("/r/{run_id}/reviews")
def ask_run(request: Request, run_id: str, reviews: ReviewsDep, who: IdentityDep) -> Response:
    """Ask for blind reviews of a saved run; to the results, which give the link to share."""
    return _ask(request, reviews, "run", run_id, who)


@router.post("/sweeps/{sweep_id}/reviews")
def ask_sweep(request: Request, sweep_id: str, reviews: ReviewsDep, who: IdentityDep) -> Response:
    return _ask(request, reviews, "sweep", sweep_id, who)


@router.post("/evals/{eval_id}/reviews")
def ask_eval(request: Request, eval_id: str, reviews: ReviewsDep, who: IdentityDep) -> Response:
    return _ask(request, reviews, "eval", eval_id, who)


def _found(
    request: Request, reviews: Reviews, review_id: str
) -> tuple[Review, Material] | Response:
    review = reviews.store.get(review_id)
    if review is None:
        return not_found_page(request, NO_REVIEW)
    material = reviews.material(review)
    if material is None:
        return not_found_page(request, GONE)
    return review, material


@router.get("/reviews/{review_id}.csv")
def export_votes(request: Request, review_id: str, reviews: ReviewsDep) -> Response:
    """Every vote, naming the presets: one row per reviewer and case."""
    found = _found(request, reviews, review_id)
    if isinstance(found, Response):
        return found
    review, material = found
    body = votes_csv(reviews.store.votes(review.id), material.names)
    headers = {"Content-Disposition": f'inline; filename="knobs-review-{review.id}.csv"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/reviews/{review_id}", name="review_start")
def start(request: Request, review_id: str, reviews: ReviewsDep, who: IdentityDep) -> Response:
    """Where this reviewer is: their name first (if needed), then the first case they have not
    judged, then the results."""
    found = _found(request, reviews, review_id)
    if isinstance(found, Response):
        return found
    review, material = found
    reviewer = reviewer_of(request, who)
    if reviewer is None:
        return page(request, "review_name.html", {"review": review, "cases": len(material.cases)})
    case = reviews.next_case(review, material, reviewer)
    if case is None:
        return RedirectResponse(f"/reviews/{review_id}/results", status_code=303)
    return RedirectResponse(f"/reviews/{review_id}/cases/{case}", status_code=303)


@router.post("/reviews/{review_id}/name")
def set_name(review_id: str, name: Annotated[str, Form()] = "") -> Response:
    """The name votes are recorded under, for a reviewer who is not signed in by name."""
    typed = " ".join(name.split())[:MAX_NAME]
    response = RedirectResponse(f"/reviews/{review_id}", status_code=303)
    if typed:
        response.set_cookie(
            REVIEWER_COOKIE, typed, max_age=180 * 86400, httponly=True, samesite="lax"
        )
    return response


def _found_for(
    request: Request, reviews: Reviews, review_id: str, who: Identity
) -> tuple[Review, Material, str] | Response:
    """The review, what it reviews and who is voting; a reviewer with no name yet is sent to
    the review's first page, which asks for one."""
    found = _found(request, reviews, review_id)
    if isinstance(found, Response):
        return found
    reviewer = reviewer_of(request, who)
    if reviewer is None:
        return RedirectResponse(f"/reviews/{review_id}", status_code=303)
    return (*found, reviewer)


@router.get("/reviews/{review_id}/cases/{case}")
def show_case(
    request: Request,
    review_id: str,
    case: int,
    reviews: ReviewsDep,
    who: IdentityDep,
    all: str = "",
    reveal: str = "",
) -> Response:
    """One case: the answers under letters in this reviewer's order, and one form to pick."""
    found = _found_for(request, reviews, review_id, who)
    if isinstance(found, Response):
        return found
    review, material, reviewer = found
    cases = reviews.reviewable(material)
    if case not in cases:
        return not_found_page(request, f"This review has no case {case + 1} to judge.")
    shown = reviews.shown(review, material, reviewer, case, bool(all), reveal=bool(reveal))
    position = cases.index(case)
    context = {
        "review": review,
        "shown": shown,
        "reviewer": reviewer,
        "number": position + 1,
        "total": len(cases),
        "previous": cases[position - 1] if position else None,
        "next": cases[position + 1] if position + 1 < len(cases) else None,
        "every_sample": bool(all),
        "long": LONG_ANSWER,
    }
    return page(request, "review.html", context)


@router.post("/reviews/{review_id}/cases/{case}")
def vote(
    request: Request,
    review_id: str,
    case: int,
    reviews: ReviewsDep,
    who: IdentityDep,
    choice: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Record the pick (replacing this reviewer's earlier one) and go on to the next case."""
    found = _found_for(request, reviews, review_id, who)
    if isinstance(found, Response):
        return found
    review, material, reviewer = found
    try:
        reviews.vote(review, material, reviewer, case, choice, note)
    except ValueError as error:
        return refusal(request.scope, 422, "Vote not recorded", str(error))
    return RedirectResponse(f"/reviews/{review_id}", status_code=303)


@router.post("/reviews/{review_id}/cases/{case}/undo")
def undo(
    request: Request, review_id: str, case: int, reviews: ReviewsDep, who: IdentityDep
) -> Response:
    """Take back this reviewer's vote on the case, and show it again."""
    reviewer = reviewer_of(request, who)
    review = reviews.store.get(review_id)
    if review is None or reviewer is None:
        return not_found_page(request, NO_REVIEW)
    if not review.closed:
        reviews.store.withdraw(review.id, reviewer, case)
    return RedirectResponse(f"/reviews/{review_id}/cases/{case}", status_code=303)


@router.get("/reviews/{review_id}/results")
def results(request: Request, review_id: str, reviews: ReviewsDep, who: IdentityDep) -> Response:
    """The votes added up, naming the presets; for the author, the link to share and Close."""
    found = _found(request, reviews, review_id)
    if isinstance(found, Response):
        return found
    review, material = found
    reviewer = reviewer_of(request, who)
    owner = who.may_delete(review.author)
    if (
        not owner
        and reviewer is not None
        and reviews.next_case(review, material, reviewer) is not None
    ):
        return RedirectResponse(f"/reviews/{review_id}", status_code=303)
    votes = reviews.store.votes(review.id)
    context = {
        "review": review,
        "tally": reviews.results(review, material, votes),
        "names": material.names,
        "notes": [v for v in votes if v.note],
        "owner": owner,
        "link": str(request.url_for("review_start", review_id=review.id)),
        "source": f"{SOURCES[review.kind]}/{review.item_id}",
        "created": when(review.created_at),
        "cases": len(reviews.reviewable(material)),
        "TIE": TIE,
    }
    return page(request, "review_results.html", context)


@router.post("/reviews/{review_id}/close")
def close(request: Request, review_id: str, reviews: ReviewsDep, who: IdentityDep) -> Response:
    review = reviews.store.get(review_id)
    if review is None:
        return not_found_page(request, NO_REVIEW)
    if not who.may_delete(review.author):
        return refusal(
            request.scope,
            403,
            "Not yours to close",
            "Only who asked for this review, or an admin, can close it.",
        )
    reviews.store.close(review.id)
    return RedirectResponse(f"/reviews/{review_id}/results", status_code=303)


def votes_csv(votes: list[StoredVote], names: list[str]) -> str:
    """One row per vote, naming the presets (the results name them too)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["case", "reviewer", "picked", "shown", "note"])
    for v in votes:
        picked = "tie" if v.winner is None else names[v.winner]
        writer.writerow(
            [v.case + 1, v.reviewer, picked, "; ".join(names[p] for p in v.shown), v.note or ""]
        )
    return out.getvalue()


def reviews_of(services: Services, kind: Kind, item_id: str) -> list[Review]:
    """The reviews of an item, for its page's "Blind reviews" line."""
    return services.reviews.store.of_item(kind, item_id)


async def areviews_of(services: Services, kind: Kind, item_id: str) -> list[Review]:
    return await run_sync(reviews_of, services, kind, item_id)
