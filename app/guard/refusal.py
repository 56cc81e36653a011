"""Refusals said one way everywhere: `{"detail": ...}` for JSON routes, a short page for people.

The guards (origin.py, limits.py, server_errors.py) answer outside the routes, so they cannot
lean on the routes' own error pages; this is the one place that shapes their answer, and the
routes' 503 for a database outage says it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, JSONResponse, Response

# The guards answer before any route runs and sit below the web layer, so they render
# their one page with an environment of their own over the same templates folder.
_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape())


def wants_json(path: str) -> bool:
    """The API and the `.json` exports answer errors in JSON; everything else is a page."""
    return path == "/api" or path.startswith("/api/") or path.endswith(".json")


def refusal(
    path: str,
    status_code: int,
    title: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The answer to a request Knobs will not serve: JSON for the API, HTML for a page."""
    # A refusal is about this request at this moment: never worth caching.
    headers = {"Cache-Control": "no-store", **(headers or {})}
    if wants_json(path):
        return JSONResponse({"detail": message}, status_code, headers=headers)
    html = _env.get_template("refused.html").render(title=title, message=message)
    return HTMLResponse(html, status_code, headers=headers)
