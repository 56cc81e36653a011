"""What the playground's and the sweep form's routes share: run a comparison or stream it, tell
a whole page from an htmx partial, answer the link button, and the endpoints a form offers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.engine.endpoints import Listing, Upstreams
from app.engine.models import kind
from app.settings import Settings
from app.web import snippets
from app.web.comparisons import C, Caller, Comparisons, Finished, Show
from app.web.hangup import unless_client_leaves
from app.web.services import services_of
from app.web.templating import page


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (JavaScript is on), whatever it will swap."""
    return bool(request.headers.get("HX-Request"))


def is_partial(request: Request) -> bool:
    """Whether to answer with the part htmx swaps in rather than the whole page. Restoring
    history after a reload, htmx asks for a whole page with the same header."""
    return is_htmx(request) and not request.headers.get("HX-History-Restore-Request")


async def run_or_stream(
    request: Request, service: Comparisons[C], compare: C, show: Show, caller: Caller
) -> str | Finished:
    """For htmx, start a live view (`show` draws it) and return its token; else, or with no
    live view to be had, run to the end. Either stops when the client leaves."""
    if is_htmx(request):
        return await unless_client_leaves(request, service.start_live(compare, show, caller))
    return await unless_client_leaves(request, service.run(compare, caller))


def pushed(response: HTMLResponse, link: str) -> HTMLResponse:
    """The link button's answer: the form with its link shown, and the link put in the
    address bar (htmx's HX-Push-Url), so that a reload or Back keeps it."""
    response.headers["HX-Push-Url"] = link
    return response


def endpoints_context(
    upstreams: Upstreams, listed: dict[str, Listing], settings: Settings, all_models: bool = False
) -> dict[str, Any]:
    """What a form shows of the endpoints: models to suggest, each one's default model, their
    names and base URLs, and whether a custom one may be typed in."""
    return {
        "models": [(n, m, kind(m)) for n, x in listed.items() for m in x.shown(all_models)],
        "default_models": {name: x.default for name, x in listed.items()},
        "endpoint_names": upstreams.names,
        "endpoint": upstreams.default.endpoint,
        "endpoint_urls": snippets.endpoint_urls(upstreams),
        "custom_endpoints": settings.allow_custom_endpoints,
    }


def badged_page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    """A page with the header's endpoint badge, as the playground shows it."""
    upstreams = services_of(request).upstreams
    context.setdefault("endpoint", upstreams.default.endpoint)
    context.setdefault("endpoint_urls", snippets.endpoint_urls(upstreams))
    return page(request, name, context)


def go_to(request: Request, link: str) -> Response:
    """Another page: a plain 303 for a form, HX-Redirect (a full page load) for htmx."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": link})
    return RedirectResponse(link, status_code=303)
