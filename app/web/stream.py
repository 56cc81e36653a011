"""The live view of a comparison: Server-Sent Events that htmx's SSE extension swaps in.

Event names address spots on the page: `text` carries, as out-of-band swaps, the text that
arrived for each sample since the last `text` frame and its progress line (and, as a queued
sample's request goes out, that progress line alone); `c-C` replaces
column C with its finished results and `done` ends the stream. Text is coalesced (at most one
`text` frame every FLUSH_EVERY seconds) because a browser that swaps every token falls behind
a fast endpoint. Leaving the page closes the stream, which closes every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from markupsafe import escape

from app.engine.events import ColumnDone, Delta, Event, Idle, Sent, Thinking
from app.guard.limits import StreamSlot
from app.web import diffs
from app.web.coalescer import Coalescer, Held
from app.web.comparisons import ComparisonsDep, Finished
from app.web.snippets import endpoint_urls
from app.web.templating import templates

router = APIRouter()
# Ten frames a second read as smooth streaming. Each frame costs the browser a layout of the
# text it changes: at 20 a second a page of 40 samples took up to half as much CPU again.
FLUSH_EVERY = 0.1
HEARTBEAT = ": still working\n\n"
# A live sample's progress line until its first token: queued (the page renders it so) until
# its request goes out, then this. With an endpoint that takes one request at a time (the
# embedded model), most samples of a comparison wait their turn.
SENT = "sent, waiting for the first token…"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def frame(event: str, data: str) -> str:
    """One SSE frame; every line of data gets its own `data:` field."""
    lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return f"event: {event}\n{lines}\n"


def render(name: str, **context: object) -> str:
    return templates.get_template(name).render(**context)


def review(finished: Finished) -> str:
    """The run's cost, agreement and sample picker, out of band beside the `done` status."""
    done = finished.comparison
    if len(done.columns) < 2:  # a rerun of one column: the run's review stays as it was
        return ""
    shown = diffs.review(done.columns, done.cost, done.agreement, finished.run_id)
    return render("_review.html", review=shown, oob=True)


def text_frame(deltas: list[Held], columns: list[int]) -> str:
    """One `text` frame: each sample's new answer (or reasoning) text appended, its
    progress line replaced."""
    swaps = []
    for delta in deltas:
        where = f"{columns[delta.column]}-{delta.sample}"
        if isinstance(delta, Thinking):
            target, progress = "reasoning", f"reasoning · {delta.tokens} tokens"
        else:
            rate = f" · {delta.tokens_per_second:g} tok/s" if delta.tokens_per_second else ""
            target, progress = "text", f"{delta.tokens} tokens{rate}"
        swaps.append(
            f'<span hx-swap-oob="beforeend:#{target}-{where}">{escape(delta.text)}</span>'
            + progress_swap(where, progress)
        )
    return frame("text", "".join(swaps))


def sent_frame(event: Sent, columns: list[int]) -> str:
    """A sample's request went out: its progress line stops saying it is queued."""
    return frame("text", progress_swap(f"{columns[event.column]}-{event.sample}", SENT))


def progress_swap(where: str, progress: str) -> str:
    """Replaces the progress line of the sample at `where` ("column-sample")."""
    return f'<span hx-swap-oob="innerHTML:#progress-{where}">{progress}</span>'


async def relay(
    events: AsyncGenerator[Event | Finished, None],
    columns: list[int],
    out: asyncio.Queue[str | None],
    endpoint_urls: Mapping[str, str] | None = None,
) -> None:
    """Turn a comparison's events into frames on `out`, then None. Text is held and sent
    by a timer; what a column holds goes out before its results, all of it before `done`."""
    loop = asyncio.get_running_loop()
    held = Coalescer(FLUSH_EVERY)
    timer: asyncio.TimerHandle | None = None

    def flush() -> None:
        nonlocal timer
        if timer is not None:
            timer.cancel()  # a no-op when the timer is what called
            timer = None
        if deltas := held.take(loop.time()):
            out.put_nowait(text_frame(deltas, columns))

    try:
        async for event in events:
            if isinstance(event, Delta | Thinking):
                held.add(event)
                if timer is None:
                    timer = loop.call_later(held.due_in(loop.time()), flush)
            elif isinstance(event, Sent):
                out.put_nowait(sent_frame(event, columns))
            elif isinstance(event, Idle):
                out.put_nowait(HEARTBEAT)
            elif isinstance(event, ColumnDone):
                if deltas := held.take_column(event.column):
                    out.put_nowait(text_frame(deltas, columns))
                index = columns[event.column]
                html = render(
                    "_column_result.html",
                    column=event.result,
                    index=index,
                    endpoint_urls=endpoint_urls,
                )
                out.put_nowait(frame(f"c-{index}", html))
            elif isinstance(event, Finished):
                flush()
                out.put_nowait(
                    frame("done", render("_status.html", finished=event) + review(event))
                )
    finally:
        if timer is not None:
            timer.cancel()
        out.put_nowait(None)
        await events.aclose()


@router.get("/compare/{token}/events", include_in_schema=False, dependencies=[StreamSlot])
async def stream_events(token: str, comparisons: ComparisonsDep) -> StreamingResponse:
    """Stream one page-started comparison to the tab that started it."""
    live = await comparisons.claim(token)

    async def events() -> AsyncIterator[str]:
        if live is None:
            message = "This live view has ended or expired. Press Run to compare again."
            yield frame("done", render("_status.html", message=message, stopped=True))
            return
        out: asyncio.Queue[str | None] = asyncio.Queue()
        # The comparison runs in a task of its own so that held text can go out on a timer
        # while no event arrives; this generator only writes what the task queues.
        urls = endpoint_urls(comparisons.upstreams)  # for the "what was sent" snippets
        task = asyncio.create_task(relay(comparisons.stream(token, live), live.columns, out, urls))
        try:
            while (chunk := await out.get()) is not None:
                yield chunk
            await task  # what ended the comparison early, if anything did, is raised here
        finally:
            if not task.done():  # the client left: end the comparison, and every request
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.post("/compare/{token}/stop", status_code=204, include_in_schema=False)
async def stop_comparison(token: str, comparisons: ComparisonsDep) -> Response:
    """Stop a running comparison: open requests are closed, partial answers kept."""
    await comparisons.stop(token)
    return Response(status_code=204)
