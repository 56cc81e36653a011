"""The sweep pages: the form (/sweep), a saved sweep's permalink, its exports, the history.

As on the playground, one route answers a plain form post (the whole page, the sweep run to
the end, no JavaScript needed) and an htmx post (the form wired to a live event stream).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.engine.knobs import SWEEP_SAMPLES, knob_text
from app.engine.sweep import BUILTIN_SWEEPS, SWEEPABLE, SweepComparison
from app.engine.sweep_caps import preview
from app.guard.refusal import refusal
from app.storage.saved import excerpt
from app.storage.sweeps import SavedSweep, SweepStore, to_csv
from app.web import snippets
from app.web.comparisons import Comparisons
from app.web.deps import CallerDep, IdentityDep, SweepRunsDep
from app.web.errors import not_found_page
from app.web.forms import column_values
from app.web.hangup import unless_client_leaves
from app.web.runs import NO_SNIFF, PER_PAGE, badged_page, when
from app.web.services import services_of
from app.web.sweep_form import SweepForm, decode, encode, read_sweep_form, to_sweep
from app.web.sweep_runs import (
    finished_sweep,
    show_points,
    sweep_context,
)
from app.web.templating import templates

router = APIRouter()
NO_SWEEP = "No saved sweep has that id. It may have been deleted, or the link was cut short."
NOT_YOURS = (
    "Only the person who ran this sweep, or an admin (KNOBS_ADMINS), can delete it. "
    "It stays in the history."
)


def default_form() -> SweepForm:
    form = SweepForm()
    form.use(BUILTIN_SWEEPS[0])
    return form


@router.get("/sweep", response_class=HTMLResponse, include_in_schema=False)
async def show_sweep_form(request: Request, runs: SweepRunsDep) -> HTMLResponse:
    """The sweep form: temperature 0 → 1.2 to start with, or the form a sweep link carries."""
    if not request.url.query:
        return await render(request, runs, default_form())
    form, problems = decode(request.url.query, runs.settings.max_prompt_chars)
    return await render(request, runs, form, link_problems=problems)


@router.post("/sweep", response_class=HTMLResponse, include_in_schema=False)
async def submit_sweep(request: Request, runs: SweepRunsDep, caller: CallerDep) -> HTMLResponse:
    """Run the sweep, preview it, pick a built-in one, or make a link, as the button says."""
    data = await request.form()
    form = read_sweep_form(data)
    action = str(data.get("action") or "run")
    verb, _, which = action.partition("-")
    if verb == "builtin" and which.isdigit() and int(which) < len(BUILTIN_SWEEPS):
        form.use(BUILTIN_SWEEPS[int(which)])
        return await render(request, runs, form)
    if verb == "link":
        link = "/sweep?" + encode(form)
        response = await render(request, runs, form, share_link=link)
        response.headers["HX-Push-Url"] = link
        return response
    if verb == "preview":
        return await render(request, runs, form)
    sweep = to_sweep(form)
    if sweep is not None:
        form.errors.update(_field_names(runs.problems(sweep)))
    if sweep is None or form.errors:
        return await render(request, runs, form, status_code=422)
    if request.headers.get("HX-Request"):
        live = await unless_client_leaves(
            request, runs.start_live(sweep, show_points(sweep), caller)
        )
        if isinstance(live, str):
            points = [p.name for p in sweep.presets]
            return await render(request, runs, form, live_token=live, live_points=points)
        finished = live
    else:
        finished = await unless_client_leaves(request, runs.run(sweep, caller))
    shown = finished_sweep(sweep, finished)
    context = sweep_context(shown, finished)
    return await render(request, runs, form, result=True, **context)


@router.post("/sweep/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_sweep(request: Request, runs: SweepRunsDep) -> HTMLResponse:
    """How many requests and tokens the form as typed would send; htmx refreshes it."""
    form = read_sweep_form(await request.form())
    return templates.TemplateResponse(request, "_sweep_preview.html", _preview(form, runs))


def _field_names(problems: dict[str, str]) -> dict[str, str]:
    """Caps by the form's field names: `base.max_tokens` is `p-0-max_tokens`."""
    return {k.replace("base.", "p-0-"): v for k, v in problems.items()}


def _preview(form: SweepForm, runs: Comparisons[SweepComparison]) -> dict[str, Any]:
    """The preview of the form as typed; a prompt not yet written does not hide it."""
    probe = dataclasses.replace(form, prompt=form.prompt or "-", errors={})
    sweep = to_sweep(probe)
    if sweep is None:  # what stands in its way, as the fields will say it on Run
        return {"preview": None, "over": list(dict.fromkeys(probe.errors.values()))}
    over = list(_field_names(runs.problems(sweep)).values())
    return {"preview": preview(sweep), "over": over}


async def render(
    request: Request,
    runs: Comparisons[SweepComparison],
    form: SweepForm,
    *,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """The whole page, or for an htmx request only the form (results included)."""
    upstreams = runs.upstreams
    listed = await upstreams.list_models()
    context: dict[str, Any] = {
        "form": form,
        "values": form.base,
        "index": 0,
        "errors": form.errors,
        "builtins": list(enumerate(BUILTIN_SWEEPS)),
        "sweepable": SWEEPABLE,
        "SWEEP_SAMPLES": SWEEP_SAMPLES,
        "models": [(n, m, "") for n, x in listed.items() for m in x.shown()],
        "default_models": {name: x.default for name, x in listed.items()},
        "endpoint_names": upstreams.names,
        "endpoint": upstreams.default.endpoint,
        "endpoint_urls": snippets.endpoint_urls(upstreams),
        "custom_endpoints": runs.settings.allow_custom_endpoints,
        **_preview(form, runs),
        **extra,
    }
    partial = bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )
    template = "_sweep_form.html" if partial else "sweep.html"
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _store(request: Request) -> SweepStore:
    return services_of(request).sweeps


def form_link(sweep: SavedSweep) -> str:
    """`/sweep?…`: the form with this sweep's prompt, base preset and values, not yet run."""
    form = SweepForm(
        sweep.system or "", sweep.prompt, str(sweep.samples), column_values(sweep.base)
    )
    for row, vary in zip(form.vary, sweep.vary, strict=False):
        row.update(knob=vary.knob, values=", ".join(knob_text(v) for v in vary.values))
    return "/sweep?" + encode(form)


@router.get("/sweeps/{sweep_id}.json", include_in_schema=False)
def sweep_json(sweep_id: str, request: Request) -> JSONResponse:
    """The sweep as JSON: every point's values, column (as a comparison's) and measures."""
    sweep = _store(request).get(sweep_id)
    if sweep is None:
        return JSONResponse({"detail": NO_SWEEP}, status_code=404)
    return JSONResponse(sweep.model_dump(mode="json"), headers=NO_SNIFF)


@router.get("/sweeps/{sweep_id}.csv", include_in_schema=False)
def sweep_csv(sweep_id: str, request: Request) -> Response:
    """One row per point x sample, every knob, stat and flag a column."""
    sweep = _store(request).get(sweep_id)
    if sweep is None:
        return not_found_page(request, NO_SWEEP)
    headers = {**NO_SNIFF, "Content-Disposition": f'inline; filename="knobs-sweep-{sweep.id}.csv"'}
    return Response(to_csv(sweep), media_type="text/csv; charset=utf-8", headers=headers)


@router.get(
    "/sweeps/{sweep_id}/points/{index}", response_class=HTMLResponse, include_in_schema=False
)
def show_point(request: Request, sweep_id: str, index: int) -> Response:
    """One point's answers beside its neighbours'; htmx swaps it under the chart."""
    sweep = _store(request).get(sweep_id)
    if sweep is None or not 0 <= index < len(sweep.points):
        return not_found_page(request, NO_SWEEP)
    context = {"sweep": sweep, "point": index}
    return badged_page(request, "_sweep_point.html", context)


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse, include_in_schema=False)
def show_sweep(
    request: Request,
    sweep_id: str,
    who: IdentityDep,
    measure: str = "distinct_share",
    point: str = "",
) -> Response:
    """A saved sweep: its chart (or heatmap), the table, and a point's answers when asked."""
    sweep = _store(request).get(sweep_id)
    if sweep is None:
        return not_found_page(request, NO_SWEEP)
    chosen = int(point) if point.isdigit() and int(point) < len(sweep.points) else None
    context = {
        **sweep_context(sweep, None, measure, chosen),
        "created": when(sweep.created_at),
        "form_url": form_link(sweep),
        "base_values": column_values(sweep.base),
        "deletable": who.may_delete(sweep.author),
        "permalink": str(request.url_for("show_sweep", sweep_id=sweep.id)),
    }
    return badged_page(request, "sweep_run.html", context)


@router.get("/sweeps/{sweep_id}/delete", response_class=HTMLResponse, include_in_schema=False)
def confirm_delete(request: Request, sweep_id: str, who: IdentityDep) -> Response:
    """Ask before deleting: the step that works without JavaScript."""
    sweep = _store(request).get(sweep_id)
    if sweep is None:
        return not_found_page(request, NO_SWEEP)
    if not who.may_delete(sweep.author):
        return refusal(request.url.path, 403, "Not yours to delete", NOT_YOURS)
    context = {
        "sweep": sweep,
        "title": excerpt(sweep.prompt, 80),
        "created": when(sweep.created_at),
    }
    return badged_page(request, "delete_sweep.html", context)


@router.post("/sweeps/{sweep_id}/delete", include_in_schema=False)
def delete_sweep(request: Request, sweep_id: str, who: IdentityDep) -> Response:
    """Delete, then back to the history; for htmx an empty answer that removes the row.
    Only its author, or an admin, may (as for runs)."""
    store = _store(request)
    sweep = store.get(sweep_id)
    if sweep is not None and not who.may_delete(sweep.author):
        return refusal(request.url.path, 403, "Not yours to delete", NOT_YOURS)
    deleted = sweep is not None and store.delete(sweep_id)
    if request.headers.get("HX-Request"):
        return Response(status_code=200)
    if not deleted:
        return not_found_page(request, NO_SWEEP)
    return RedirectResponse("/sweeps", status_code=303)


@router.get("/sweeps", response_class=HTMLResponse, include_in_schema=False)
def list_sweeps(request: Request, who: IdentityDep, page: str = "1") -> HTMLResponse:
    """Saved sweeps, newest first, a page at a time."""
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 10 else 1
    sweeps, total = _store(request).list_sweeps(max(number, 1), PER_PAGE)
    context = {
        "sweeps": sweeps,
        "times": [when(s.created_at) for s in sweeps],
        "deletable": [who.may_delete(s.author) for s in sweeps],
        "total": total,
        "page": max(number, 1),
        "pages": max(1, -(-total // PER_PAGE)),
    }
    return badged_page(request, "sweeps.html", context)
