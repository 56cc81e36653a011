"""Refusals said one way everywhere: `{"detail": ...}` for JSON routes, a short page for people.

The guards (origin.py, limits.py, server_errors.py) answer outside the routes, so they cannot
lean on the routes' own error pages; this is the one place that shapes their answer, and the
routes' 503 for a database outage says it the same way. The page is rendered with the app's
one template environment, which the request's lifespan state carries (app/web/services.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Scope


def wants_json(path: str) -> bool:
    """The API and the `.json` exports answer errors in JSON; everything else is a page."""
    return path == "/api" or path.startswith("/api/") or path.endswith(".json")


def refusal(
    scope: Scope,
    status_code: int,
    title: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The answer to a request Knobs will not serve: JSON for the API, HTML for a page."""
    # A refusal is about this request at this moment: never worth caching.
    headers = {"Cache-Control": "no-store", **(headers or {})}
    if wants_json(scope["path"]):
        return JSONResponse({"detail": message}, status_code, headers=headers)
    templates = getattr(scope.get("state", {}).get("services"), "templates", None)
    if isinstance(templates, Jinja2Templates):
        html = templates.get_template("refused.html").render(title=title, message=message)
    else:  # no services (start-up failed, or --lifespan off): the words alone
        html = f"<!doctype html><title>{escape(title)}</title><p>{escape(message)}</p>"
    return HTMLResponse(html, status_code, headers=headers)
