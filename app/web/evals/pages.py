"""The eval pages: the form (/evals/new), the permalink with its live progress, one case's
answers side by side, Stop and Resume; the history, exports and deleting are a saved kind's
routes (app/web/saved_items.py).

The form is a plain form: Run posts it, the eval starts on the server and the browser goes to
its permalink, which shows the cells as they fill (htmx polls the results every 2 s; without
JavaScript the page refreshes itself while the eval runs). Every replica shows the same
progress: it is all in the store.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from anyio.to_thread import run_sync
from fastapi import Depends, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.engine.evals import preflight
from app.engine.evals.checks import CHECKS
from app.engine.evals.definition import EvalRequest
from app.engine.evals.examples import EXAMPLE_BY_KEY, EXAMPLES
from app.engine.knobs import EVAL_SAMPLES
from app.engine.presets import Preset
from app.engine.results import Column, Flags, Usage
from app.guard.refusal import refusal
from app.storage.evals import EvalView, StoredEval, eval_view
from app.storage.saved import SavedRun
from app.web import sharelink
from app.web.comparisons import Caller
from app.web.controllers import badged_page, endpoints_context, is_partial
from app.web.deps import CallerDep, EvalStoreDep, IdentityDep, ServicesDep
from app.web.errors import not_found_page
from app.web.evals.api import NOT_YOURS
from app.web.evals.charts import pass_rate_bars
from app.web.evals.form import EvalForm, field_names, read_eval_form, to_eval
from app.web.reviews.pages import reviews_of
from app.web.runs import _settings
from app.web.saved_items import saved_router, when
from app.web.saved_kinds import EVALS, saved_eval
from app.web.services import Services
from app.web.templating import page

router = saved_router(EVALS)
# The body limit (KNOBS_MAX_BODY_BYTES) holds an upload first; this bounds what is decoded.
MAX_UPLOAD_BYTES = 8_000_000
POLL_SECONDS = 2


def default_form() -> EvalForm:
    form = EvalForm()
    form.use(EXAMPLES[0])
    return form


@router.get("/evals/new", response_class=HTMLResponse, include_in_schema=False)
async def show_eval_form(
    request: Request, services: ServicesDep, example: str = "", again: str = ""
) -> HTMLResponse:
    """The form: an example to start with, an earlier eval's form (`?again=ID`), or what a
    playground link carries (its presets, its prompt as the first case)."""
    form = default_form()
    problems: list[str] = []
    if example in EXAMPLE_BY_KEY:
        form.use(EXAMPLE_BY_KEY[example])
    elif again:
        stored = await services.evals.aget(again)
        if stored is None:
            problems.append("No eval has that id, so the form starts afresh.")
        else:
            form = EvalForm.of(stored.request)
    elif "p" in request.query_params or "prompt" in request.query_params:
        decoded = sharelink.decode(request.url.query, services.settings.max_prompt_chars)
        form = EvalForm(cases="", template="")
        form.carry(decoded.system, decoded.prompt, decoded.presets)
        problems = decoded.problems
    return await render(request, services, form, link_problems=problems)


@router.post("/evals/new", response_class=HTMLResponse, include_in_schema=False)
async def submit_eval_form(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    """Run the eval (on the server; the browser goes to its permalink), fill in an example,
    or show the preview again, as the button says."""
    async with request.form() as data:  # closed on leaving: an upload's spool file goes
        upload = data.get("cases_file")
        uploaded, filename = None, ""
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(MAX_UPLOAD_BYTES)
            filename = upload.filename
            uploaded = raw.decode("utf-8", errors="replace")
        form = read_eval_form(data, uploaded, filename)
        action = str(data.get("action") or "run")
    verb, _, which = action.partition("-")
    if verb == "example" and which in EXAMPLE_BY_KEY:
        form.use(EXAMPLE_BY_KEY[which])
        return await render(request, services, form)
    if verb == "preview":
        to_eval(form)  # to show each problem at its field
        return await render(request, services, form)
    if verb in ("add", "remove"):
        form.edit_presets(verb, which)
        return await render(request, services, form)
    definition = to_eval(form)
    if definition is not None:
        problems = await run_sync(_problems, services, definition)
        form.errors.update(field_names(problems))
    if definition is None or form.errors:
        return await render(request, services, form, status_code=422)
    eval_id = await services.eval_runner.start(definition, caller)
    return RedirectResponse(f"/evals/{eval_id}", status_code=303)


@router.post("/evals/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_eval(request: Request, services: ServicesDep) -> HTMLResponse:
    """What the form as typed would send and cost at most; htmx refreshes it as you type."""
    form = read_eval_form(await request.form())
    return page(request, "_eval_preview.html", await run_sync(_preview, services, form))


def _problems(services: Services, definition: EvalRequest) -> dict[str, str]:
    return preflight.problems(definition, services.settings, services.upstreams.names)


def price_of(services: Services) -> preflight.PriceOf:
    """A preset's price for some usage, as a finished column of it would be priced."""
    comparisons = services.comparisons
    upstreams = services.upstreams

    def price(preset: Preset, usage: Usage) -> float | None:
        endpoint = (upstreams.by_name.get(preset.endpoint or "") or upstreams.default).endpoint
        model = preset.model or endpoint.default_model
        probe = Column(preset=preset, samples=[], flags=Flags(), endpoint=endpoint.name)
        return comparisons.prices_for(probe).cost(usage, model)

    return price


def _preview(services: Services, form: EvalForm) -> dict[str, Any]:
    probe = dataclasses.replace(form, errors={})
    definition = to_eval(probe)
    if definition is None:
        return {"preview": None, "over": list(dict.fromkeys(probe.errors.values()))[:3]}
    over = list(_problems(services, definition).values())[:3]
    return {"preview": preflight.preview(definition, price_of(services)), "over": over}


async def render(
    request: Request,
    services: Services,
    form: EvalForm,
    *,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    listed = await services.upstreams.list_models()
    context: dict[str, Any] = {
        "form": form,
        "errors": form.errors,
        "examples": EXAMPLES,
        "check_kinds": CHECKS,
        "EVAL_SAMPLES": EVAL_SAMPLES,
        **endpoints_context(services.upstreams, listed, services.settings),
        **await run_sync(_preview, services, form),
        **extra,
    }
    template = "_eval_form.html" if is_partial(request) else "eval_form.html"
    return page(request, template, context, status_code=status_code)


def eval_context(view: EvalView) -> dict[str, Any]:
    return {"view": view, "bars": pass_rate_bars(view.presets), "poll": POLL_SECONDS}


@router.get("/evals/{eval_id}/results", response_class=HTMLResponse, include_in_schema=False)
def show_eval_results(
    request: Request, view: Annotated[EvalView | None, Depends(saved_eval)], who: IdentityDep
) -> Response:
    """The results so far: what the permalink polls while the eval runs."""
    if view is None:
        return not_found_page(request, EVALS.missing)
    context = {**eval_context(view), "owner": who.may_delete(view.author)}
    return page(request, "_eval_results.html", context)


@router.get("/evals/{eval_id}/cases/{case}", response_class=HTMLResponse, include_in_schema=False)
def show_eval_case(request: Request, eval_id: str, case: int, evals: EvalStoreDep) -> Response:
    """One case's answers, each preset's beside the others, as the playground shows them,
    with each sample's checks."""
    stored = evals.get(eval_id)
    if stored is None or not 0 <= case < len(stored.request.cases):
        return not_found_page(request, EVALS.missing)
    return badged_page(request, "eval_case.html", case_context(stored, case))


def case_context(stored: StoredEval, case: int) -> dict[str, Any]:
    view = eval_view(stored)
    row = view.cases[case]
    definition = view.definition
    ran = [cell for cell in row.cells if cell is not None]
    cells = stored.cell_map()
    columns = [cells[case, p] for p in range(len(definition.presets)) if (case, p) in cells]
    run = SavedRun(
        id=view.id,
        created_at=view.created_at,
        system=definition.system,
        prompt=definition.prompt_of(case) or row.label,
        samples=definition.samples,
        columns=columns,
    )
    return {
        "view": view,
        "row": row,
        "cells": ran,
        "run": run,
        "settings": _settings(run),
        "turns": definition.cases[case].messages,
        "read_only": True,
        "title": row.label,
    }


@router.get("/evals/{eval_id}", response_class=HTMLResponse, include_in_schema=False)
def show_eval(
    request: Request,
    view: Annotated[EvalView | None, Depends(saved_eval)],
    who: IdentityDep,
    services: ServicesDep,
) -> Response:
    """An eval: its status and progress, the figures with their intervals, the pairs' tests,
    and the matrix of cases × presets, live while it runs."""
    if view is None:
        return not_found_page(request, EVALS.missing)
    context = {
        **eval_context(view),
        "created": when(view.created_at),
        "owner": who.may_delete(view.author),
        "permalink": str(request.url_for("show_eval", eval_id=view.id)),
        "reviews": (reviews := reviews_of(services, "eval", view.id)),
        # People's preference beside the checks': the latest review's votes.
        "human": services.reviews.latest_results(reviews[-1]) if reviews else None,
    }
    return badged_page(request, "eval.html", context)


async def _act(
    request: Request, services: Services, eval_id: str, who: Any, verb: str
) -> Response | None:
    stored = await services.evals.aget(eval_id)
    if stored is None:
        return not_found_page(request, EVALS.missing)
    if not who.may_delete(stored.author):
        return refusal(request.scope, 403, f"Not yours to {verb}", NOT_YOURS.format(verb=verb))
    return None


@router.post("/evals/{eval_id}/stop", include_in_schema=False)
async def stop_eval_page(
    request: Request, eval_id: str, services: ServicesDep, who: IdentityDep
) -> Response:
    """Stop, then back to the permalink (which says what was kept)."""
    refused = await _act(request, services, eval_id, who, "stop")
    if refused is not None:
        return refused
    await services.eval_runner.stop(eval_id)
    return RedirectResponse(f"/evals/{eval_id}", status_code=303)


@router.post("/evals/{eval_id}/resume", include_in_schema=False)
async def resume_eval_page(
    request: Request, eval_id: str, services: ServicesDep, who: IdentityDep, caller: CallerDep
) -> Response:
    """Run what is missing, here; back to the permalink, which follows it."""
    refused = await _act(request, services, eval_id, who, "resume")
    if refused is not None:
        return refused
    await services.eval_runner.resume(eval_id, Caller(caller.author, caller.client))
    return RedirectResponse(f"/evals/{eval_id}", status_code=303)
