"""The saved kinds, each declared once: runs, sweeps and evals. Another kind is an entry here, a
router from `saved_router` with its permalink page, and its two templates (`{plural}.html`,
`delete_{noun}.html`)."""

from __future__ import annotations

from fastapi import Request

from app.storage import eval_exports, exports
from app.storage.evals import EvalView, eval_view
from app.storage.saved import SavedRun
from app.storage.sweeps import SavedSweep, to_csv
from app.web.deps import EvalStoreDep, StoreDep, SweepStoreDep
from app.web.errors import NO_RUN
from app.web.saved_items import Export, SavedKind

NO_EVAL = "No eval has that id. It may have been deleted, or the link was cut short."
NO_SWEEP = "No saved sweep has that id. It may have been deleted, or the link was cut short."
NOT_YOURS = (
    "Only the person who ran this {what}, or an admin (KNOBS_ADMINS), can delete it. "
    "It stays in the history."
)
CSV = "text/csv; charset=utf-8"


def saved_run(run_id: str, store: StoreDep) -> SavedRun | None:
    """The run the path names, or None."""
    return store.get(run_id)


def saved_sweep(sweep_id: str, store: SweepStoreDep) -> SavedSweep | None:
    """The sweep the path names, or None."""
    return store.get(sweep_id)


def run_markdown(request: Request, run: SavedRun) -> str:
    """A Markdown table to paste into an issue; served as plain text so it shows in the tab."""
    return exports.to_markdown(run, str(request.url_for("show_run", run_id=run.id)))


RUNS = SavedKind(
    noun="run",
    page="/r",
    load=saved_run,
    delete=lambda services, run_id: services.store.delete(run_id),
    listing=lambda services, page, per_page, author: services.store.list_runs(
        page, per_page, author
    ),
    model=SavedRun,
    missing=NO_RUN,
    not_yours=NOT_YOURS.format(what="comparison"),
    described="A saved run: prompt, presets as sent, every sample with its stats, flags and time.",
    filename="knobs",
    # The CSV: a row per preset x sample, every knob, stat and flag a column.
    exports=(
        Export("csv", CSV, lambda _, run: exports.to_csv(run)),
        Export("md", "text/plain; charset=utf-8", run_markdown),
    ),
    api_delete=True,
)
# Each point keeps its column as a comparison's: the CSV is a run's, a row per point x sample.
SWEEPS = SavedKind(
    noun="sweep",
    page="/sweeps",
    load=saved_sweep,
    delete=lambda services, sweep_id: services.sweeps.delete(sweep_id),
    listing=lambda services, page, per_page, author: services.sweeps.list_sweeps(
        page, per_page, author
    ),
    model=SavedSweep,
    missing=NO_SWEEP,
    not_yours=NOT_YOURS.format(what="sweep"),
    described="A saved sweep: prompt, base preset, the varied knobs, and every point's values, "
    "column (as a comparison's) and measures; the same as `/sweeps/{id}.json`.",
    filename="knobs-sweep",
    exports=(Export("csv", CSV, lambda _, sweep: to_csv(sweep)),),
)


def saved_eval(eval_id: str, store: EvalStoreDep) -> EvalView | None:
    """The eval the path names, its figures computed from its cells as they are now."""
    stored = store.get(eval_id)
    return None if stored is None else eval_view(stored)


def eval_markdown(request: Request, view: EvalView) -> str:
    return eval_exports.to_markdown(view, str(request.url_for("show_eval", eval_id=view.id)))


EVALS = SavedKind(
    noun="eval",
    page="/evals",
    load=saved_eval,
    delete=lambda services, eval_id: services.evals.delete(eval_id),
    listing=lambda services, page, per_page, author: services.evals.list_evals(
        page, per_page, author
    ),
    model=EvalView,
    missing=NO_EVAL,
    not_yours=NOT_YOURS.format(what="eval"),
    described="An eval: its status and progress; per preset the pass rate with its 95% "
    "interval, pass@k and pass^k; per case each preset's cell (k of n passed, each sample with "
    "each check's result); per pair of presets the paired test and its sentence.",
    filename="knobs-eval",
    exports=(
        Export("csv", CSV, lambda _, view: eval_exports.to_csv(view)),
        Export("md", "text/plain; charset=utf-8", eval_markdown),
    ),
    api_delete=True,
)
