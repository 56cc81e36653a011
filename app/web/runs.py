"""Saved runs: the permalink page, its exports, the history and deleting, HTML and JSON.

The routes are plain functions: FastAPI runs them in its thread pool, where the store's
synchronous calls belong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.engine.presets import KNOBS
from app.engine.presets import knob_text as text
from app.guard.refusal import refusal
from app.storage import exports
from app.storage.saved import SavedRun, excerpt
from app.web import diff_views, sharelink, snippets
from app.web.deps import IdentityDep, StoreDep
from app.web.errors import NO_RUN, not_found_page
from app.web.services import services_of
from app.web.templating import templates

NO_SUCH_RUN: dict[int | str, dict[str, Any]] = {404: {"description": "No run has that id."}}
router = APIRouter()
PER_PAGE = 25
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
NOT_YOURS = (
    "Only the person who ran this comparison, or an admin (KNOBS_ADMINS), can delete it. "
    "It stays in the history."
)


def when(iso: str) -> str:
    """`2025-01-31 14:05 UTC` from a stored UTC timestamp."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def playground_link(run: SavedRun) -> str:
    """`/?…`: the playground with this run's prompt and presets, not yet run."""
    presets = [c.preset for c in run.columns]
    return "/?" + sharelink.encode(run.system, run.prompt, run.samples, presets)


def badged_page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    """A page with the header's endpoint badge, as the playground shows it."""
    upstreams = services_of(request).upstreams
    context.setdefault("endpoint", upstreams.default.endpoint)
    context.setdefault("endpoint_urls", snippets.endpoint_urls(upstreams))
    return templates.TemplateResponse(request, name, context)


def _settings(run: SavedRun) -> list[list[tuple[str, str]]]:
    """Each column's knobs as shown read-only: every knob, `unset` where it was not sent."""
    shown = []
    for column in run.columns:
        rows = [
            ("endpoint", column.endpoint or column.preset.endpoint or "default"),
            ("model", column.model or column.preset.model or "endpoint default"),
        ]
        for knob in KNOBS:
            value = getattr(column.preset, knob.name)
            if value is None:
                rows.append((knob.name, "unset"))
            elif knob.kind == "stop":
                rows.append((knob.name, " · ".join(repr(s) for s in value)))
            else:
                rows.append((knob.name, text(value)))
        shown.append(rows)
    return shown


def _export(run: SavedRun, body: str, media_type: str, suffix: str) -> Response:
    disposition = f'inline; filename="knobs-{run.id}.{suffix}"'
    headers = {**NO_SNIFF, "Content-Disposition": disposition}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/r/{run_id}.json", include_in_schema=False)
def export_json(run_id: str, store: StoreDep) -> JSONResponse:
    """The run as JSON, the same shape as `GET /api/runs/{id}`."""
    run = store.get(run_id)
    if run is None:
        return JSONResponse({"detail": NO_RUN}, status_code=404)
    return JSONResponse(run.model_dump(mode="json"), headers=NO_SNIFF)


@router.get("/r/{run_id}.csv", include_in_schema=False)
def export_csv(request: Request, run_id: str, store: StoreDep) -> Response:
    """One row per preset x sample, every knob, stat and flag a column."""
    run = store.get(run_id)
    if run is None:
        return not_found_page(request)
    return _export(run, exports.to_csv(run), "text/csv; charset=utf-8", "csv")


@router.get("/r/{run_id}.md", include_in_schema=False)
def export_markdown(request: Request, run_id: str, store: StoreDep) -> Response:
    """A Markdown table to paste into an issue; served as plain text so it shows in the tab."""
    run = store.get(run_id)
    if run is None:
        return not_found_page(request)
    url = str(request.url_for("show_run", run_id=run.id))
    return _export(run, exports.to_markdown(run, url), "text/plain; charset=utf-8", "md")


@router.get("/r/{run_id}", response_class=HTMLResponse, include_in_schema=False)
def show_run(
    request: Request, run_id: str, store: StoreDep, a: str | None = None, b: str | None = None
) -> Response:
    """A saved run, read-only, laid out like the playground's results; with `a` and `b`
    (samples `C.S`), their word differences under it."""
    run = store.get(run_id)
    if run is None:
        return not_found_page(request)
    context = {
        "run": run,
        "title": excerpt(run.prompt, 60),
        "created": when(run.created_at),
        "settings": _settings(run),
        "playground_url": playground_link(run),
        "permalink": str(request.url_for("show_run", run_id=run.id)),
        "read_only": True,
        **diff_views.for_run(run, a, b),
    }
    return badged_page(request, "run.html", context)


@router.get("/r/{run_id}/delete", response_class=HTMLResponse, include_in_schema=False)
def confirm_delete(request: Request, run_id: str, store: StoreDep, who: IdentityDep) -> Response:
    """Ask before deleting: the step that works without JavaScript."""
    run = store.get(run_id)
    if run is None:
        return not_found_page(request)
    if not who.may_delete(run.author):
        return refusal(request.url.path, 403, "Not yours to delete", NOT_YOURS)
    context = {"run": run, "title": excerpt(run.prompt, 80), "created": when(run.created_at)}
    return badged_page(request, "delete_run.html", context)


@router.post("/r/{run_id}/delete", include_in_schema=False)
def delete_run(request: Request, run_id: str, store: StoreDep, who: IdentityDep) -> Response:
    """Delete, then back to the history; for htmx an empty answer that removes the row."""
    run = store.get(run_id)
    if run is not None and not who.may_delete(run.author):
        return refusal(request.url.path, 403, "Not yours to delete", NOT_YOURS)
    deleted = run is not None and store.delete(run_id)
    if request.headers.get("HX-Request"):
        return Response(status_code=200)
    if not deleted:
        return not_found_page(request)
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs", response_class=HTMLResponse, include_in_schema=False)
def list_runs(
    request: Request, store: StoreDep, who: IdentityDep, page: str = "1", show: str = "mine"
) -> HTMLResponse:
    """Saved runs, newest first, a page at a time: mine, or everyone's (`?show=all`)."""
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 10 else 1
    everyone = show == "all" or not who.signed_in  # with no sign-in, every run is "mine"
    runs, total = store.list_runs(max(number, 1), PER_PAGE, None if everyone else who.name)
    pages = max(1, -(-total // PER_PAGE))
    context = {
        "runs": runs,
        "times": [when(r.created_at) for r in runs],
        "deletable": [who.may_delete(r.author) for r in runs],
        "total": total,
        "page": max(number, 1),
        "pages": pages,
        "everyone": everyone,
        "signed_in": who.signed_in,
        "show": "all" if everyone and who.signed_in else "mine",
    }
    return badged_page(request, "runs.html", context)


@router.get("/api/runs/{run_id}", response_model=SavedRun, tags=["api"], responses=NO_SUCH_RUN)
def get_run(run_id: str, store: StoreDep) -> SavedRun:
    """A saved run: prompt, presets as sent, every sample with its stats, flags and time."""
    run = store.get(run_id)
    if run is None:
        raise HTTPException(404, detail=NO_RUN)
    return run


@router.delete(
    "/api/runs/{run_id}",
    status_code=204,
    tags=["api"],
    responses={**NO_SUCH_RUN, 403: {"description": "Only its author or an admin may delete."}},
)
def delete_run_api(run_id: str, store: StoreDep, who: IdentityDep) -> Response:
    """Delete a saved run: yours, or anyone's for an admin. 404 when there is none by that id."""
    run = store.get(run_id)
    if run is None:
        raise HTTPException(404, detail=NO_RUN)
    if not who.may_delete(run.author):
        raise HTTPException(403, detail=NOT_YOURS)
    store.delete(run_id)
    return Response(status_code=204)
