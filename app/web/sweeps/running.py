"""Running a sweep: the comparison service (app/web/comparisons.py) with a sweep's Kind (its
caps, and saved as a sweep), and the live view's event stream.

A sweep is a comparison, so it takes the same path: caps, a slot (rate and in-flight limits),
the fan-out, the live view that any replica can stream or stop, and Stop itself (the
comparison's `/compare/{token}/stop`). What differs is its own caps, that it is saved as a
sweep, and what the live view shows: a row per point as it finishes, and done / total.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from fastapi.templating import Jinja2Templates

from app.engine.events import ColumnDone, Event, SampleDone
from app.engine.results import Comparison
from app.engine.sweeps import preflight
from app.engine.sweeps.definition import SweepComparison
from app.engine.sweeps.measures import shown_measures
from app.settings import Settings
from app.storage.sweeps import SavedSweep, SweepPoint, SweepStore
from app.web.comparisons import Finished, Show
from app.web.deps import SweepRunsDep
from app.web.frames import frame, render
from app.web.stream import live_stream
from app.web.sweeps.chart import heatmap, line_panels

router = APIRouter()
EXPIRED = "This live view has ended or expired. Press Run to sweep again."


class SavedSweeps:
    """A sweep's Kind: the sweep's caps, named by its own fields, and saved as a sweep."""

    def __init__(self, sweeps: SweepStore) -> None:
        self.sweeps = sweeps

    def problems(
        self, compare: SweepComparison, settings: Settings, endpoints: Collection[str]
    ) -> dict[str, str]:
        return preflight.problems(compare, settings, endpoints)

    async def save(
        self, compare: SweepComparison, comparison: Comparison, stopped: bool, author: str
    ) -> str:
        sweep = SavedSweep.from_comparison(compare, comparison, stopped=stopped, author=author)
        return await self.sweeps.save_sweep(sweep)


def finished_sweep(sweep: SweepComparison, finished: Finished) -> SavedSweep:
    """The sweep as its page shows it once finished: saved under its id, or not saved."""
    shown = SavedSweep.from_comparison(sweep, finished.comparison, stopped=finished.stopped)
    return shown.model_copy(update={"id": finished.run_id or ""})


def progress(done: int, total: int) -> str:
    return f"{done} of {total} requests done"


def show_points(sweep: SweepComparison, templates: Jinja2Templates) -> Show:
    """How a sweep's live view shows it: a row and the chart so far as each point finishes,
    done / total as each request does, then the whole result."""
    points, total = sweep.points(), len(sweep.presets) * sweep.samples

    async def show(
        events: AsyncGenerator[Event | Finished, None], publish: Callable[[str], None]
    ) -> None:
        done, finished = 0, []
        try:
            async for event in events:
                if isinstance(event, SampleDone):
                    done += 1
                    publish(frame("progress", progress(done, total)))
                elif isinstance(event, ColumnDone):
                    point = SweepPoint(values=points[event.column], column=event.result)
                    publish(
                        frame(
                            f"p-{event.column}",
                            render(templates, "_sweep_row.html", point=point, index=event.column),
                        )
                    )
                    finished.append(point)
                    so_far = SavedSweep.of(sweep, finished)  # the chart so far, not saved
                    chart = render(templates, "_sweep_chart.html", **sweep_context(so_far))
                    publish(frame("chart", chart))
                elif isinstance(event, Finished):
                    context = sweep_context(finished_sweep(sweep, event), event)
                    publish(frame("done", render(templates, "_sweep_result.html", **context)))
        finally:
            await events.aclose()

    return show


@router.get("/sweep/{token}/events", include_in_schema=False)
async def stream_sweep(token: str, runs: SweepRunsDep) -> StreamingResponse:
    """Stream one page-started sweep to its tab. Leaving the page ends the stream, which
    stops the sweep."""
    return live_stream(await runs.follow(token), EXPIRED, runs.live.templates)


def sweep_context(
    sweep: SavedSweep,
    finished: Finished | None = None,
    measure: str = "distinct_share",
    point: int | None = None,
) -> dict[str, Any]:
    """What templates/_sweep_result.html needs: the chart, the table and one point's answers."""
    two = len(sweep.vary) == 2
    return {
        "sweep": sweep,
        "finished": finished,
        "panels": [] if two else line_panels(sweep),
        "heatmap": heatmap(sweep, measure) if two else None,
        "measures": shown_measures([p.stats for p in sweep.points]),
        "point": point,
    }
