"""The sweep pages: the form (/sweep), a saved sweep's permalink and its points; the rest
(exports, history, deleting, `GET /api/sweeps/{sweep_id}`) are a saved kind's routes
(app/web/saved_items.py).

As on the playground, one route answers a plain form post (the whole page, the sweep run to
the end, no JavaScript needed) and an htmx post (the form wired to a live event stream).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.engine.knobs import DEFAULT_SAMPLES, MAX_PRESETS, SWEEP_SAMPLES, knob_text
from app.engine.sweeps.definition import BUILTIN_SWEEPS, SWEEPABLE, SweepComparison
from app.engine.sweeps.preflight import preview
from app.storage.sweeps import SavedSweep
from app.web import sharelink
from app.web.comparisons import Comparisons
from app.web.controllers import (
    badged_page,
    endpoints_context,
    go_to,
    is_partial,
    pushed,
    run_or_stream,
)
from app.web.deps import CallerDep, IdentityDep, ServicesDep, SweepRunsDep
from app.web.errors import not_found_page
from app.web.forms import column_values
from app.web.reviews.pages import reviews_of
from app.web.saved_items import saved_router, when
from app.web.saved_kinds import SWEEPS, saved_sweep
from app.web.sweeps.form import SweepForm, decode, encode, read_sweep_form, to_sweep
from app.web.sweeps.running import (
    finished_sweep,
    show_points,
    sweep_context,
)
from app.web.templating import page, templates_of

router = saved_router(SWEEPS)


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
async def submit_sweep(request: Request, runs: SweepRunsDep, caller: CallerDep) -> Response:
    """Run the sweep, preview it, pick a built-in one, make a link, or carry its points to
    the eval form as presets, as the button says."""
    data = await request.form()
    form = read_sweep_form(data)
    action = str(data.get("action") or "run")
    verb, _, which = action.partition("-")
    if verb == "builtin" and which.isdigit() and int(which) < len(BUILTIN_SWEEPS):
        form.use(BUILTIN_SWEEPS[int(which)])
        return await render(request, runs, form)
    if verb == "link":
        link = "/sweep?" + encode(form)
        return pushed(await render(request, runs, form, share_link=link), link)
    if verb == "preview":
        return await render(request, runs, form)
    sweep = to_sweep(form)
    if verb == "eval" and sweep is not None:  # a preset per point: pass rate against the knob
        if len(sweep.presets) <= MAX_PRESETS:
            link = sharelink.encode(sweep.system, sweep.prompt, DEFAULT_SAMPLES, sweep.presets)
            return go_to(request, "/evals/new?" + link)
        form.errors["v-0-values"] = (
            f"An eval compares at most {MAX_PRESETS} presets, and this sweep has "
            f"{len(sweep.presets)} points: use fewer values to run it on a set of cases."
        )
    if sweep is not None:
        form.errors.update(_field_names(runs.problems(sweep)))
    if sweep is None or form.errors:
        return await render(request, runs, form, status_code=422)
    finished = await run_or_stream(
        request, runs, sweep, show_points(sweep, templates_of(request)), caller
    )
    if isinstance(finished, str):  # a live view's token: the page fills in as points finish
        points = [p.name for p in sweep.presets]
        return await render(request, runs, form, live_token=finished, live_points=points)
    shown = finished_sweep(sweep, finished)
    context = sweep_context(shown, finished)
    return await render(request, runs, form, result=True, **context)


@router.post("/sweep/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_sweep(request: Request, runs: SweepRunsDep) -> HTMLResponse:
    """How many requests and tokens the form as typed would send; htmx refreshes it."""
    form = read_sweep_form(await request.form())
    return page(request, "_sweep_preview.html", _preview(form, runs))


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
    listed = await runs.upstreams.list_models()
    context: dict[str, Any] = {
        "form": form,
        "values": form.base,
        "index": 0,
        "errors": form.errors,
        "builtins": list(enumerate(BUILTIN_SWEEPS)),
        "sweepable": SWEEPABLE,
        "SWEEP_SAMPLES": SWEEP_SAMPLES,
        **endpoints_context(runs.upstreams, listed, runs.settings),
        **_preview(form, runs),
        **extra,
    }
    template = "_sweep_form.html" if is_partial(request) else "sweep.html"
    return page(request, template, context, status_code=status_code)


def form_link(sweep: SavedSweep) -> str:
    """`/sweep?…`: the form with this sweep's prompt, base preset and values, not yet run."""
    form = SweepForm(
        sweep.system or "", sweep.prompt, str(sweep.samples), column_values(sweep.base)
    )
    for row, vary in zip(form.vary, sweep.vary, strict=False):
        row.update(knob=vary.knob, values=", ".join(knob_text(v) for v in vary.values))
    return "/sweep?" + encode(form)


@router.get(
    "/sweeps/{sweep_id}/points/{index}", response_class=HTMLResponse, include_in_schema=False
)
def show_point(
    request: Request, sweep: Annotated[SavedSweep | None, Depends(saved_sweep)], index: int
) -> Response:
    """One point's answers beside its neighbours'; htmx swaps it under the chart."""
    if sweep is None or not 0 <= index < len(sweep.points):
        return not_found_page(request, SWEEPS.missing)
    context = {"sweep": sweep, "point": index}
    return badged_page(request, "_sweep_point.html", context)


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse, include_in_schema=False)
def show_sweep(
    request: Request,
    sweep: Annotated[SavedSweep | None, Depends(saved_sweep)],
    who: IdentityDep,
    services: ServicesDep,
    measure: str = "distinct_share",
    point: str = "",
) -> Response:
    """A saved sweep: its chart (or heatmap), the table, and a point's answers when asked."""
    if sweep is None:
        return not_found_page(request, SWEEPS.missing)
    chosen = int(point) if point.isdigit() and int(point) < len(sweep.points) else None
    context = {
        **sweep_context(sweep, None, measure, chosen),
        "created": when(sweep.created_at),
        "form_url": form_link(sweep),
        "base_values": column_values(sweep.base),
        "deletable": who.may_delete(sweep.author),
        "permalink": str(request.url_for("show_sweep", sweep_id=sweep.id)),
        "reviews": reviews_of(services, "sweep", sweep.id),
    }
    return badged_page(request, "sweep_run.html", context)
