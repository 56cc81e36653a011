"""Friendly error pages: a 404 is a page with a way back, a database outage a 503 that says
when to try again, a JSON body that cannot be read a 400 that says why; JSON under /api and
for the .json exports."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.guard.refusal import refusal, wants_json
from app.storage.outages import StoreUnavailable
from app.web.templating import page

log = logging.getLogger("knobs.errors")
NO_RUN = "No saved run has that id. It may have been deleted, or the link was cut short."
# A PostgreSQL restart or failover takes seconds; a full or read-only disk needs a person.
RETRY_AFTER_SECONDS = 30
STORE_DOWN = (
    "Saved runs are out of reach: the database cannot be reached or written just now. Try "
    f"again in {RETRY_AFTER_SECONDS} seconds. The playground still runs comparisons meanwhile; "
    "their answers are shown but not saved."
)
TOO_DEEP = (
    "The JSON body is nested too deeply to read. Knobs needs only a few levels: for "
    '/api/compare, an object whose "presets" is a flat list of objects, such as '
    '{"prompt": "Hi", "presets": [{"temperature": 0}, {"temperature": 1}]}. Every shape is '
    "at /docs."
)
NOT_UTF8 = "The body is not valid UTF-8 text. Send JSON encoded as UTF-8."


def not_found_page(request: Request, message: str = NO_RUN) -> Response:
    """The 404 page; it never repeats what was asked for, so nothing odd is echoed back."""
    return page(request, "not_found.html", {"message": message}, status_code=404)


def unreadable_body(error: StarletteHTTPException) -> str | None:
    """Why FastAPI could not read a JSON body, for its bare 400, when the cause is known.

    FastAPI answers malformed JSON with a 422 of its own; anything else its JSON reading
    raises becomes "There was an error parsing the body", raised from the real cause.
    """
    if error.status_code != 400:
        return None
    if isinstance(error.__cause__, RecursionError):
        return TOO_DEEP
    if isinstance(error.__cause__, UnicodeDecodeError):
        return NOT_UTF8
    return None


async def show_not_found(request: Request, error: Exception) -> Response:
    """App-wide handler: a 404 outside the JSON routes gets the friendly page; a JSON body
    FastAPI could not read gets a 400 that says why."""
    assert isinstance(error, StarletteHTTPException)
    if (reason := unreadable_body(error)) is not None:
        # 400 still, as FastAPI answers it: the body was never read, so no field can be named
        # (Knobs' 422s name the fields they refuse).
        return JSONResponse({"detail": reason}, 400, headers=error.headers)
    if error.status_code != 404 or wants_json(request.url.path):
        return await http_exception_handler(request, error)
    return not_found_page(request, "There is no page at this address.")


async def store_unavailable(request: Request, error: Exception) -> Response:
    """App-wide handler: the database is out of reach, so every route that needs it answers
    503 with Retry-After (the reason, which names the database, goes to the log only)."""
    assert isinstance(error, StoreUnavailable)
    log.warning("%s %s: %s", request.method, request.url.path, error)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return refusal(request.scope, 503, "Saved runs are unavailable", STORE_DOWN, headers)
