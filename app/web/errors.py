"""Friendly error pages: a 404 is a page with a way back, or JSON under /api."""

from __future__ import annotations

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.web.templating import templates

NO_RUN = "No saved run has that id. It may have been deleted, or the link was cut short."


def not_found_page(request: Request, message: str = NO_RUN) -> Response:
    """The 404 page; it never repeats what was asked for, so nothing odd is echoed back."""
    return templates.TemplateResponse(
        request, "not_found.html", {"message": message}, status_code=404
    )


async def show_not_found(request: Request, error: Exception) -> Response:
    """App-wide handler: a 404 outside /api (and not for .json) gets the friendly page."""
    assert isinstance(error, StarletteHTTPException)
    path = request.url.path
    wants_json = path == "/api" or path.startswith("/api/") or path.endswith(".json")
    if error.status_code != 404 or wants_json:
        return await http_exception_handler(request, error)
    return not_found_page(request, "There is no page at this address.")
