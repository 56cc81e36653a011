"""The live view of a comparison: Server-Sent Events that htmx's SSE extension swaps in.

The comparison runs from the page's POST (app/web/live_views.py); `show_columns` turns its events
into frames as they happen, and the stream sends them to the tab from the first.

Event names address spots on the page: `text` carries, as out-of-band swaps, the text that
arrived for each sample since the last `text` frame and its progress line (and, as a queued
sample's request goes out, that progress line alone); `c-C` replaces column C with its
finished results and `done` ends the stream. Text is coalesced (at most one `text` frame
every FLUSH_EVERY seconds) because a browser that swaps every token falls behind a fast
endpoint. Leaving the page closes the stream, which stops the comparison.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from markupsafe import escape

from app.engine.events import ColumnDone, Delta, Event, Sent, Thinking
from app.web import diff_views
from app.web.coalescer import Coalescer, Held
from app.web.comparisons import Finished, Show
from app.web.deps import ComparisonsDep
from app.web.frames import end_frame, frame, render

router = APIRouter()
# Ten frames a second read as smooth streaming. Each frame costs the browser a layout of the
# text it changes: at 20 a second a page of 40 samples took up to half as much CPU again.
FLUSH_EVERY = 0.1
# A live sample's progress line until its first token: queued (the page renders it so) until
# its request goes out, then this. With an endpoint that takes one request at a time (the
# embedded model), most samples of a comparison wait their turn.
SENT = "sent, waiting for the first token…"
EXPIRED = "This live view has ended or expired. Press Run to compare again."


def review(templates: Jinja2Templates, finished: Finished) -> str:
    """The run's cost, agreement and sample picker, out of band beside the `done` status."""
    shown = diff_views.review_of(finished)
    return "" if shown is None else render(templates, "_review.html", review=shown, oob=True)


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


def show_columns(
    columns: list[int], templates: Jinja2Templates, endpoint_urls: Mapping[str, str] | None = None
) -> Show:
    """How a comparison's live view shows it, filling the page's `columns` (a rerun fills
    one); `endpoint_urls` are for the "what was sent" snippets."""

    async def show(
        events: AsyncGenerator[Event | Finished, None], publish: Callable[[str], None]
    ) -> None:
        await relay(events, columns, publish, templates, endpoint_urls)

    return show


async def relay(
    events: AsyncGenerator[Event | Finished, None],
    columns: list[int],
    publish: Callable[[str], None],
    templates: Jinja2Templates,
    endpoint_urls: Mapping[str, str] | None = None,
) -> None:
    """Turn a comparison's events into frames for `publish`. Text is held and sent by a
    timer; what a column holds goes out before its results, all of it before `done`."""
    loop = asyncio.get_running_loop()
    held = Coalescer(FLUSH_EVERY)
    timer: asyncio.TimerHandle | None = None

    def flush() -> None:
        nonlocal timer
        if timer is not None:
            timer.cancel()  # a no-op when the timer is what called
            timer = None
        if deltas := held.take(loop.time()):
            publish(text_frame(deltas, columns))

    try:
        async for event in events:
            if isinstance(event, Delta | Thinking):
                held.add(event)
                if timer is None:
                    timer = loop.call_later(held.due_in(loop.time()), flush)
            elif isinstance(event, Sent):
                publish(sent_frame(event, columns))
            elif isinstance(event, ColumnDone):
                if deltas := held.take_column(event.column):
                    publish(text_frame(deltas, columns))
                index = columns[event.column]
                html = render(
                    templates,
                    "_column_result.html",
                    column=event.result,
                    index=index,
                    endpoint_urls=endpoint_urls,
                )
                publish(frame(f"c-{index}", html))
            elif isinstance(event, Finished):
                flush()
                status = render(templates, "_status.html", finished=event)
                publish(frame("done", status + review(templates, event)))
    finally:
        if timer is not None:
            timer.cancel()
        await events.aclose()


@router.get("/compare/{token}/events", include_in_schema=False)
async def stream_events(token: str, comparisons: ComparisonsDep) -> StreamingResponse:
    """Stream one page-started comparison to the tab that started it."""
    return live_stream(await comparisons.follow(token), EXPIRED, comparisons.live.templates)


def live_stream(
    frames: AsyncIterator[str] | None, expired: str, templates: Jinja2Templates
) -> StreamingResponse:
    """A live view's frames as an event stream; `expired` says why there are none."""

    async def ended() -> AsyncIterator[str]:
        yield end_frame(templates, expired)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    body = ended() if frames is None else frames
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.post("/compare/{token}/stop", status_code=204, include_in_schema=False)
async def stop_comparison(token: str, comparisons: ComparisonsDep) -> Response:
    """Stop a running comparison: open requests are closed, partial answers kept."""
    await comparisons.stop(token)
    return Response(status_code=204)
