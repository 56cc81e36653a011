"""The playground page: show the form, edit columns, run a comparison.

One route answers both a plain form post (the whole page, results included, no
JavaScript needed) and an htmx post (just the playground, wired to a live stream).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.engine.knobs import MIN_PRESETS
from app.engine.presets import (
    MAX_PRESETS,
    CompareRequest,
    Preset,
    builtin_presets,
    effort_presets,
    lint,
    lint_all,
    nucleus_preset,
)
from app.engine.results import Column
from app.web import diff_views, sharelink, snippets
from app.web.comparisons import Caller, Comparisons
from app.web.controllers import endpoints_context, go_to, is_partial, pushed, run_or_stream
from app.web.deps import CallerDep, ComparisonsDep
from app.web.forms import PlaygroundForm, column_values, form_name, read_form, to_request
from app.web.services import services_of
from app.web.stream import show_columns
from app.web.templating import page, templates_of

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def show_playground(request: Request) -> HTMLResponse:
    """The playground: the built-in presets, or the form a preset link carries."""
    query = request.url.query
    if not query:
        return await render(request, PlaygroundForm.from_presets(builtin_presets()))
    # A link fills the form and nothing more: the person presses Run.
    link = sharelink.decode(query, services_of(request).settings.max_prompt_chars)
    form = link.form(builtin_presets())
    return await render(request, form, link_problems=link.problems)


@router.post("/", response_class=HTMLResponse, include_in_schema=False)
async def submit_playground(
    request: Request, comparisons: ComparisonsDep, caller: CallerDep
) -> Response:
    """Run the comparison, edit the columns, make a link, or carry the columns to the eval
    form, as the pressed button says."""
    data = await request.form()
    form = read_form(data)
    if form.errors:  # more presets than Knobs compares: refused, whichever button was pressed
        return await render(request, form, status_code=422)
    action = str(data.get("action") or "run")
    verb, _, rest = action.partition("-")
    if verb == "rerun":
        # Without JavaScript the "rerun" button posts here: double, then run that column.
        index, _, max_tokens = rest.partition("-")
        if index.isdigit() and max_tokens.isdigit():
            return await rerun(request, comparisons, caller, form, int(index), int(max_tokens))
    if verb == "eval":  # these columns, carried to the eval form (the prompt its first case)
        return go_to(request, "/evals/new?" + sharelink.encode_form(form))
    if verb == "link":
        link = "/?" + sharelink.encode_form(form)
        return pushed(await render(request, form, share_link=link), link)
    if action != "run":
        edit_columns(form, action)
        return await render(request, form)
    return await run(request, comparisons, caller, form)


@router.post("/rerun/{index}/{max_tokens}", response_class=HTMLResponse, include_in_schema=False)
async def rerun_column(
    request: Request, comparisons: ComparisonsDep, caller: CallerDep, index: int, max_tokens: int
) -> HTMLResponse:
    """Run one column again with a larger max_tokens; htmx swaps in just that column."""
    form = read_form(await request.form())
    if form.errors:  # more presets than Knobs compares
        return await render(request, form, status_code=422)
    return await rerun(request, comparisons, caller, form, index, max_tokens)


async def rerun(
    request: Request,
    comparisons: Comparisons[CompareRequest],
    caller: Caller,
    form: PlaygroundForm,
    index: int,
    max_tokens: int,
) -> HTMLResponse:
    if not 0 <= index < len(form.columns):
        return await render(request, form, status_code=422)
    form.columns[index]["max_tokens"] = str(max_tokens)
    return await run(request, comparisons, caller, form, solo=index)


async def run(
    request: Request,
    comparisons: Comparisons[CompareRequest],
    caller: Caller,
    form: PlaygroundForm,
    solo: int | None = None,
) -> HTMLResponse:
    """Run every column, or just the `solo` one being rerun: live for htmx, else to the end
    and back as the whole page. A form that cannot run comes back with its messages."""
    upstreams = comparisons.upstreams
    compare = to_request(form)
    if compare is not None:
        problems = comparisons.problems(compare)
        form.errors.update({form_name(k): v for k, v in problems.items()})
    if compare is None or form.errors:
        return await render(request, form, status_code=422)
    columns = list(range(len(form.columns))) if solo is None else [solo]
    if solo is not None:
        compare = compare.model_copy(update={"presets": [compare.presets[solo]]})
    show = show_columns(columns, templates_of(request), snippets.endpoint_urls(upstreams))
    finished = await run_or_stream(request, comparisons, compare, show, caller)
    if isinstance(finished, str):  # a live view's token: the page fills in as answers come
        return await render(request, form, live_token=finished, solo=solo)
    results = dict(zip(columns, finished.comparison.columns, strict=True))
    shown = diff_views.review_of(finished)
    return await render(request, form, results=results, finished=finished, solo=solo, review=shown)


@router.post("/lint/{index}", response_class=HTMLResponse, include_in_schema=False)
async def lint_column(request: Request, index: int) -> HTMLResponse:
    """Errors and warnings for one column, refreshed as its fields change."""
    # htmx posts the whole form; keep only this column's fields.
    prefix = f"p-{index}-"
    data = await request.form()
    form = read_form({key: data[key] for key in data if key.startswith(prefix)})
    errors, warnings = column_notes(form, 0) if form.columns else ({}, [])
    return page(
        request,
        "_column_notes.html",
        {"index": index, "errors": errors, "warnings": warnings},
    )


def edit_columns(form: PlaygroundForm, action: str) -> None:
    verb, _, which = action.partition("-")
    index = int(which) if which.isdigit() else -1
    if verb == "add" and len(form.columns) < MAX_PRESETS:
        form.columns.append(column_values(Preset(name=f"Preset {len(form.columns) + 1}")))
    elif verb == "nucleus" and len(form.columns) < MAX_PRESETS:
        form.columns.append(column_values(nucleus_preset()))
    elif verb == "effort":
        room = MAX_PRESETS - len(form.columns)
        form.columns += [column_values(p) for p in effort_presets()[:room]]
    elif verb == "duplicate" and 0 <= index < len(form.columns) < MAX_PRESETS:
        copy = dict(form.columns[index])
        copy["name"] = f"{copy['name'] or f'Preset {index + 1}'} copy"
        form.columns.insert(index + 1, copy)
    elif verb == "remove" and 0 <= index < len(form.columns) and len(form.columns) > MIN_PRESETS:
        form.columns.pop(index)


def column_notes(form: PlaygroundForm, index: int) -> tuple[dict[str, str], list[str]]:
    """Field errors (keyed by knob) and lint warnings for one column as typed."""
    probe = PlaygroundForm(prompt="-", columns=[form.columns[index]])
    request = to_request(probe)
    if request is None:
        prefix = "p-0-"
        errors = {
            k.removeprefix(prefix): v for k, v in probe.errors.items() if k.startswith(prefix)
        }
        return errors, []
    return {}, lint(request.presets[0])


async def wants_all_models(request: Request) -> bool:
    """Whether the model suggestions list every model, not only chat models: as the pressed
    button says, else as the form carries it from the last time."""
    if request.method != "POST":
        return False
    data = await request.form()  # read once already: Starlette keeps it
    action = data.get("action")
    if action in ("models-all", "models-chat"):
        return action == "models-all"
    return data.get("all_models") == "1"


async def render(
    request: Request,
    form: PlaygroundForm,
    *,
    results: dict[int, Column] | None = None,
    live_token: str | None = None,
    solo: int | None = None,
    status_code: int = 200,
    **extra: object,
) -> HTMLResponse:
    """The whole page, or for an htmx request only the playground (or the one `solo` column)."""
    services = services_of(request)
    upstreams = services.upstreams
    all_models = await wants_all_models(request)
    listed = await upstreams.list_models()
    models_errors = [f"{name}: {x.error}" for name, x in listed.items() if x.error]
    notes = [column_notes(form, i) for i in range(len(form.columns))]
    valid = to_request(PlaygroundForm(prompt="-", columns=form.columns))
    if valid is not None:  # lints that compare columns need them all valid
        lints = lint_all(valid.presets)
        notes = [(errors, lints[i]) for i, (errors, _) in enumerate(notes)]
    for i, (errors, _) in enumerate(notes):
        for knob, message in errors.items():
            form.errors.setdefault(f"p-{i}-{knob}", message)
    context: dict[str, Any] = {
        "form": form,
        "notes": notes,
        "models_errors": models_errors,
        "all_models": all_models,
        "models_hidden": sum(len(x.models) - len(x.shown()) for x in listed.values()),
        "results": results or {},
        "live_token": live_token,
        "live_columns": [solo] if solo is not None else list(range(len(form.columns))),
        "solo": solo is not None,
        **endpoints_context(upstreams, listed, services.settings, all_models),
        **extra,
    }
    partial = is_partial(request)
    if partial and solo is not None:
        # A column run to the end (no live view) brings its status line along, out of band.
        context.update(index=solo, values=form.columns[solo], status_oob=True)
        return page(request, "_column.html", context)
    template = "_playground.html" if partial else "index.html"
    context["swapped"] = partial  # htmx swaps it into a page already open
    return page(request, template, context, status_code=status_code)
