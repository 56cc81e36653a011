"""The API reference at /docs: Swagger UI served from /static, under the same strict policy.

FastAPI's own /docs fetches Swagger UI from a CDN and starts it with an inline script. Knobs is
self-hosted and often offline, and its Content-Security-Policy allows neither, so the pinned
bundle lives in static/ (like htmx) and static/api-docs.js starts it. Create the app with
`docs_url=None, redoc_url=None` and include this router instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.web.templating import page

router = APIRouter()


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def show_api_docs(request: Request) -> HTMLResponse:
    """Swagger UI for the JSON API, reading the app's OpenAPI schema."""
    schema = request.scope.get("root_path", "") + (request.app.openapi_url or "")
    return page(request, "api_docs.html", {"openapi_url": schema})
