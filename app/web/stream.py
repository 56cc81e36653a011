"""The live view of a comparison: Server-Sent Events that htmx's SSE extension swaps in.

Event names address one spot on the page: `d-C-S` appends text to sample S of column C,
`p-C-S` replaces its progress line, `c-C` replaces column C with its finished results and
`done` ends the stream. Leaving the page closes the stream, which closes every request.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from markupsafe import escape

from app.engine.fanout import ColumnDone, Delta, Idle
from app.guard.limits import StreamSlot
from app.web.comparisons import ComparisonsDep, Finished
from app.web.templating import templates

router = APIRouter()
# Progress lines are refreshed at most this often per sample; text goes out at once.
PROGRESS_EVERY = 0.25
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def frame(event: str, data: str) -> str:
    """One SSE frame; every line of data gets its own `data:` field."""
    lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return f"event: {event}\n{lines}\n"


def render(name: str, **context: object) -> str:
    return templates.get_template(name).render(**context)


@router.get("/compare/{token}/events", include_in_schema=False, dependencies=[StreamSlot])
async def stream_events(token: str, comparisons: ComparisonsDep) -> StreamingResponse:
    """Stream one page-started comparison to the tab that started it."""
    live = await comparisons.claim(token)

    async def events() -> AsyncIterator[str]:
        if live is None:
            message = "This live view has ended or expired. Press Run to compare again."
            yield frame("done", render("_status.html", message=message, stopped=True))
            return
        shown: dict[tuple[int, int], float] = {}
        stream = comparisons.stream(token, live)
        try:
            async for event in stream:
                if isinstance(event, Idle):
                    yield ": still working\n\n"
                elif isinstance(event, Delta):
                    where = f"{live.columns[event.column]}-{event.sample}"
                    yield frame(f"d-{where}", str(escape(event.text)))
                    now = time.perf_counter()
                    if now - shown.get((event.column, event.sample), 0.0) >= PROGRESS_EVERY:
                        shown[(event.column, event.sample)] = now
                        rate = (
                            f" · {event.tokens_per_second:g} tok/s"
                            if event.tokens_per_second
                            else ""
                        )
                        yield frame(f"p-{where}", f"{event.tokens} tokens{rate}")
                elif isinstance(event, ColumnDone):
                    index = live.columns[event.column]
                    html = render("_column_result.html", column=event.result, index=index)
                    yield frame(f"c-{index}", html)
                elif isinstance(event, Finished):
                    yield frame("done", render("_status.html", finished=event))
        finally:
            await stream.aclose()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.post("/compare/{token}/stop", status_code=204, include_in_schema=False)
async def stop_comparison(token: str, comparisons: ComparisonsDep) -> Response:
    """Stop a running comparison: open requests are closed, partial answers kept."""
    await comparisons.stop(token)
    return Response(status_code=204)
