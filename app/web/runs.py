"""Saved runs: the permalink page; the rest (exports, history, deleting, `GET` and `DELETE
/api/runs/{run_id}`) are a saved kind's routes (app/web/saved_items.py).

The routes are plain functions: FastAPI runs them in its thread pool, where the store's
synchronous calls belong.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.engine.presets import KNOBS
from app.engine.presets import knob_text as text
from app.storage.saved import SavedRun, excerpt
from app.web import diff_views, sharelink
from app.web.controllers import badged_page
from app.web.deps import ServicesDep
from app.web.errors import not_found_page
from app.web.reviews.pages import reviews_of
from app.web.saved_items import saved_router, when
from app.web.saved_kinds import RUNS, saved_run

router = saved_router(RUNS)


def playground_link(run: SavedRun) -> str:
    """`/?…`: the playground with this run's prompt and presets, not yet run."""
    presets = [c.preset for c in run.columns]
    return "/?" + sharelink.encode(run.system, run.prompt, run.samples, presets)


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


@router.get("/r/{run_id}", response_class=HTMLResponse, include_in_schema=False)
def show_run(
    request: Request,
    run: Annotated[SavedRun | None, Depends(saved_run)],
    services: ServicesDep,
    a: str | None = None,
    b: str | None = None,
) -> Response:
    """A saved run, read-only, laid out like the playground's results; with `a` and `b`
    (samples `C.S`), their word differences under it."""
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
        "reviews": reviews_of(services, "run", run.id),
        **diff_views.for_run(run, a, b),
    }
    return badged_page(request, "run.html", context)
