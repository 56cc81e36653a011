"""The routes every saved kind has, runs and sweeps alike: its exports, the question before
deleting, deleting, the history (mine, or everyone's with `?show=all`) and `GET /api/…/{id}`.

A kind says where it lives and how it is read, listed and exported (`SavedKind`);
`saved_router` gives it these routes, to which the kind adds its own permalink page. The
routes are plain functions: FastAPI runs them in its thread pool, where the stores'
synchronous calls belong.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations, and those
# built below name the kind's dependency, which only this function's scope can see.

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from inspect import signature
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.guard.refusal import refusal
from app.storage.saved import excerpt
from app.web.comparisons import Finished
from app.web.controllers import badged_page, is_htmx
from app.web.deps import IdentityDep, ServicesDep
from app.web.errors import not_found_page
from app.web.services import Services

PER_PAGE = 25
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}


class Listed(Protocol):
    """A row of a history: what every kind's summary has."""

    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> str: ...
    @property
    def author(self) -> str | None: ...


class Saved(Listed, Protocol):
    """A saved one, whole: its prompt too, and its JSON."""

    @property
    def prompt(self) -> str: ...
    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


T = TypeVar("T", bound=Saved)


@dataclass(frozen=True)
class Export(Generic[T]):
    """A download besides the JSON: `{page}/{id}.{suffix}`, shown inline."""

    suffix: str
    media_type: str
    body: Callable[[Request, T], str]


@dataclass(frozen=True)
class SavedKind(Generic[T]):
    """What tells one saved kind from another (app/web/saved_kinds.py declares them); the
    routes are the same for each."""

    noun: str  # "run": names routes, templates (delete_run.html) and the path parameter
    page: str  # a saved one's permalink is `{page}/{id}`
    load: Callable[..., T | None]  # a dependency: the one the path names, or None
    delete: Callable[[Services, str], bool]
    listing: Callable[[Services, int, int, str | None], tuple[Sequence[Listed], int]]
    model: type[T]  # the API's answer
    missing: str  # what a 404 says
    not_yours: str  # what a 403 says to someone else's delete
    described: str  # the API's words for one
    filename: str  # exports are `{filename}-{id}.{suffix}`
    exports: tuple[Export[T], ...] = ()
    api_delete: bool = False  # DELETE /api/{plural}/{id}

    @property
    def plural(self) -> str:
        """`runs`: the history (/runs, runs.html and its rows) and the API (/api/runs)."""
        return f"{self.noun}s"

    @property
    def param(self) -> str:
        """`run_id`: the id's path parameter, as url_for and the API document name it."""
        return f"{self.noun}_id"


def when(iso: str) -> str:
    """`2025-01-31 14:05 UTC` from a stored UTC timestamp."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def page_number(page: str) -> int:
    """The history's `?page=`, at least 1; anything that is not a plain number is page 1."""
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 10 else 1
    return max(number, 1)


def where_saved(request: Request, kind: SavedKind[T], finished: Finished) -> dict[str, Any]:
    """An API answer's `id`, `url` (its permalink page, the route `show_{noun}`) and
    `not_saved`: where it was saved, or why it was not."""
    saved = finished.run_id
    url = str(request.url_for(f"show_{kind.noun}", **{kind.param: saved})) if saved else None
    return {"id": saved, "url": url, "not_saved": finished.not_saved}


def saved_router(kind: SavedKind[T]) -> APIRouter:
    """A router with the kind's shared routes. Add the permalink page, `show_{noun}`, after
    them: the exports' `{id}.json` would otherwise be read as an id."""
    assert kind.param in signature(kind.load).parameters, "load reads the path parameter"
    router = APIRouter()
    item = f"{kind.page}/{{{kind.param}}}"
    api = f"/api/{kind.plural}/{{{kind.param}}}"
    missing: dict[int | str, dict[str, Any]] = {
        404: {"description": f"No {kind.noun} has that id."}
    }

    @router.get(f"{item}.json", name=f"{kind.noun}_json", include_in_schema=False)
    def as_json(
        found: Annotated[T | None, Depends(kind.load)], services: ServicesDep
    ) -> JSONResponse:
        """The saved one as JSON, the same shape as the API's; with blind reviews, their votes
        too (`reviews`)."""
        if found is None:
            return JSONResponse({"detail": kind.missing}, status_code=404)
        body = found.model_dump(mode="json")
        if reviews := services.reviews.exported(kind.noun, found.id):
            body["reviews"] = reviews
        return JSONResponse(body, headers=NO_SNIFF)

    for export in kind.exports:
        router.add_api_route(
            f"{item}.{export.suffix}",
            exporter(kind, export),
            name=f"{kind.noun}_{export.suffix}",
            include_in_schema=False,
        )

    @router.get(f"{item}/delete", name=f"confirm_delete_{kind.noun}", include_in_schema=False)
    def confirm_delete(
        request: Request, found: Annotated[T | None, Depends(kind.load)], who: IdentityDep
    ) -> Response:
        """Ask before deleting: the step that works without JavaScript."""
        if found is None:
            return not_found_page(request, kind.missing)
        if not who.may_delete(found.author):
            return refusal(request.scope, 403, "Not yours to delete", kind.not_yours)
        context = {
            kind.noun: found,
            "title": excerpt(found.prompt, 80),
            "created": when(found.created_at),
        }
        return badged_page(request, f"delete_{kind.noun}.html", context)

    @router.post(f"{item}/delete", name=f"delete_{kind.noun}", include_in_schema=False)
    def delete(
        request: Request,
        found: Annotated[T | None, Depends(kind.load)],
        services: ServicesDep,
        who: IdentityDep,
    ) -> Response:
        """Delete, then back to the history; for htmx an empty answer that removes the row.
        Only its author, or an admin, may."""
        if found is not None and not who.may_delete(found.author):
            return refusal(request.scope, 403, "Not yours to delete", kind.not_yours)
        deleted = found is not None and kind.delete(services, found.id)
        if is_htmx(request):
            return Response(status_code=200)
        if not deleted:
            return not_found_page(request, kind.missing)
        return RedirectResponse(f"/{kind.plural}", status_code=303)

    @router.get(f"/{kind.plural}", name=f"list_{kind.plural}", include_in_schema=False)
    def history(
        request: Request,
        services: ServicesDep,
        who: IdentityDep,
        page: str = "1",
        show: str = "mine",
    ) -> HTMLResponse:
        """Newest first, a page at a time: mine, or everyone's (`?show=all`)."""
        number = page_number(page)
        everyone = show == "all" or not who.signed_in  # with no sign-in, every one is "mine"
        listed, total = kind.listing(services, number, PER_PAGE, None if everyone else who.name)
        context = {
            kind.plural: listed,
            "times": [when(x.created_at) for x in listed],
            "deletable": [who.may_delete(x.author) for x in listed],
            # "3 reviews" beside each that has blind reviews.
            "reviews": services.reviews.store.counts(kind.noun, [x.id for x in listed]),
            "total": total,
            "page": number,
            "pages": max(1, -(-total // PER_PAGE)),
            "everyone": everyone,
            "signed_in": who.signed_in,
            "show": "all" if everyone and who.signed_in else "mine",
        }
        return badged_page(request, f"{kind.plural}.html", context)

    @router.get(
        api,
        name=f"get_{kind.noun}",
        response_model=kind.model,
        tags=["api"],
        responses=missing,
        description=kind.described,
    )
    def get_item(found: Annotated[T | None, Depends(kind.load)]) -> Any:
        if found is None:
            raise HTTPException(404, detail=kind.missing)
        return found

    if kind.api_delete:
        refused = {**missing, 403: {"description": "Only its author or an admin may delete."}}

        @router.delete(
            api,
            name=f"delete_{kind.noun}_api",
            status_code=204,
            tags=["api"],
            responses=refused,
            description=f"Delete a saved {kind.noun}: yours, or anyone's for an admin. "
            "404 when there is none by that id.",
        )
        def delete_api(
            found: Annotated[T | None, Depends(kind.load)], services: ServicesDep, who: IdentityDep
        ) -> Response:
            if found is None:
                raise HTTPException(404, detail=kind.missing)
            if not who.may_delete(found.author):
                raise HTTPException(403, detail=kind.not_yours)
            kind.delete(services, found.id)
            return Response(status_code=204)

    return router


def exporter(kind: SavedKind[T], export: Export[T]) -> Callable[..., Response]:
    """The route for one export: 404 page for an unknown id, else the file, inline."""

    def download(request: Request, found: Annotated[T | None, Depends(kind.load)]) -> Response:
        if found is None:
            return not_found_page(request, kind.missing)
        disposition = f'inline; filename="{kind.filename}-{found.id}.{export.suffix}"'
        headers = {**NO_SNIFF, "Content-Disposition": disposition}
        return Response(export.body(request, found), media_type=export.media_type, headers=headers)

    return download
