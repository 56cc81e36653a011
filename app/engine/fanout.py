"""Run a comparison: every preset x sample request at once, events as they stream.

`stream_comparison` yields events in arrival order; `run_comparison` waits for the end.
Closing the stream early, or setting `stop`, closes every upstream request. Where an endpoint
takes fewer requests at once than a comparison has, they wait their turn in round-robin order
across columns (app/engine/slots.py), so every column gets its first answer early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator

from app.engine.analysis import SampleView, analyze
from app.engine.capabilities import Adjustment, refused_knobs
from app.engine.endpoints import Upstreams
from app.engine.events import (
    ColumnDone,
    ComparisonDone,
    Delta,
    Event,
    SampleDone,
    Sent,
    Thinking,
)
from app.engine.presets import CompareRequest, Preset, lint_all
from app.engine.results import Column, Comparison
from app.engine.sample import Received, done, run_sample
from app.engine.upstream import Sending, Upstream

STOPPED = "Stopped before the answer was complete."
NEVER_SENT = "Stopped before it was sent: it was waiting for its turn at the endpoint."
log = logging.getLogger("knobs.fanout")


class _StopPressed:
    """Put on the queue when `stop` is set, so the loop below only ever awaits the queue."""


Message = Sent | Delta | Thinking | SampleDone | _StopPressed


async def _relay_stop(stop: asyncio.Event, queue: asyncio.Queue[Message]) -> None:
    await stop.wait()
    queue.put_nowait(_StopPressed())


async def stream_comparison(
    request: CompareRequest,
    upstreams: Upstreams,
    stop: asyncio.Event | None = None,
    live: bool = True,
) -> AsyncGenerator[Event, None]:
    """Start every request at once and yield events until all have finished or `stop` is set.
    Without `live`, neither when each request goes out (Sent) nor its text as it streams
    (Delta, Thinking), only each sample's end."""
    # One queue, awaited plainly: a future per event (asyncio.wait on queue and stop) cost
    # more than parsing the chunk itself once two dozen streams run at once.
    queue: asyncio.Queue[Message] = asyncio.Queue()
    n_columns, n_samples = len(request.presets), request.samples
    warnings = lint_all(request.presets)
    clients = [_client_for(preset, upstreams) for preset in request.presets]
    metrics = upstreams.metrics
    # Each sample's request and what it has received, kept here too: Stop cancels the task.
    # Round-robin (the first sample of every column, then the second...): the order in which
    # the tasks ask for their endpoint's slots, so no column is always measured last.
    sendings = {(c, s): Sending() for s in range(n_samples) for c in range(n_columns)}
    received = {key: Received() for key in sendings}
    tasks = [
        asyncio.create_task(
            run_sample(
                clients[c], request, c, s, queue, sendings[c, s], received[c, s], metrics, live
            )
        )
        for c, s in sendings
    ]
    helpers = [asyncio.create_task(_relay_stop(stop, queue))] if stop else []
    results: list[list[SampleDone | None]] = [[None] * n_samples for _ in range(n_columns)]
    columns: list[Column | None] = [None] * n_columns
    stopped = False
    outcome = "abandoned"  # unless it gets to the end: the client left, or it failed
    began = time.perf_counter()
    metrics.comparisons_in_flight.inc()
    try:
        remaining = len(tasks)
        while remaining:
            event = await queue.get()
            if isinstance(event, _StopPressed):
                stopped = True
                break
            if isinstance(event, Sent | Delta | Thinking):
                yield event
                continue
            remaining -= 1
            results[event.column][event.sample] = event
            yield event
            column = _finish_column(request, event.column, results, warnings, clients)
            if column is not None:
                columns[event.column] = column
                yield ColumnDone(event.column, column)
        if stopped:
            await _cancel(tasks)
            for c in range(n_columns):
                if columns[c] is not None:
                    continue
                for s in range(n_samples):
                    if results[c][s] is None:
                        got = received[c, s]
                        sample = got.partial(STOPPED if got.sent else NEVER_SENT)
                        results[c][s] = ended = done(c, s, sample, sendings[c, s])
                        yield ended
                column = _finish_column(request, c, results, warnings, clients)
                assert column is not None  # every sample has a result now
                columns[c] = column
                yield ColumnDone(c, column)
        finished = [c for c in columns if c is not None]
        comparison = Comparison(system=request.system, prompt=request.prompt, columns=finished)
        outcome = "stopped" if stopped else "finished"
        yield ComparisonDone(comparison, stopped)
    finally:
        metrics.comparisons_in_flight.dec()
        metrics.comparisons.labels(outcome).inc()
        failed = sum(bool(s and s.result.error) for column in results for s in column)
        fields = {
            "outcome": outcome,
            "presets": n_columns,
            "samples": n_samples,
            "failed_samples": failed,
            "endpoints": sorted({c.endpoint.name for c in clients}),
            "seconds": round(time.perf_counter() - began, 3),
        }
        log.info("comparison %s", outcome, extra={"fields": fields})
        # Reached on normal end, on Stop, and when the consumer goes away (aclose/cancel):
        # no upstream request outlives the comparison.
        await _cancel(tasks + helpers)
        shared = set(map(id, upstreams.by_name.values()))
        for client in {id(c): c for c in clients if id(c) not in shared}.values():
            await client.aclose()


def _client_for(preset: Preset, upstreams: Upstreams) -> Upstream:
    """A configured endpoint, or the preset's own (both checked before: app/engine/preflight.py)."""
    if preset.base_url is None:
        return upstreams.for_preset(preset)
    key = preset.api_key.get_secret_value() if preset.api_key else None
    return Upstream.custom(preset.base_url, key, upstreams.default.settings)


def _finish_column(
    request: CompareRequest,
    index: int,
    results: list[list[SampleDone | None]],
    warnings: list[list[str]],
    clients: list[Upstream],
) -> Column | None:
    """The column with its flags once all its samples are in, else None."""
    done = [s for s in results[index] if s is not None]
    if len(done) < len(results[index]):
        return None
    samples = [d.result for d in done]
    preset = request.presets[index]
    adjustments = _merged(done)
    refused = refused_knobs(adjustments, list(preset.knobs()))
    # A temperature of 0 that was never sent promises no repeatability.
    sent_preset = preset.model_copy(update=dict.fromkeys(refused))
    views = [
        SampleView(
            s.text,
            s.finish_reason,
            s.system_fingerprint,
            ok=s.error is None,
            refused=s.refusal is not None,
            reasoning_tokens=s.usage.reasoning_tokens,
            completion_tokens=s.usage.completion_tokens,
        )
        for s in samples
    ]
    flags = analyze(views, sent_preset.expects_repeatable(), setting_refused=bool(refused))
    return Column(
        preset=preset,
        samples=samples,
        flags=flags,
        warnings=warnings[index],
        endpoint=clients[index].endpoint.name,
        model=next((s.model for s in samples if s.model), preset.model),
        adjustments=adjustments,
        sent=next((d.sent for d in done if d.sent), None),
    )


def _merged(done: list[SampleDone]) -> list[Adjustment]:
    """Each change once, as the first sample to make it reported it (samples run at once,
    so several may meet the same refusal)."""
    seen: dict[tuple[str, str], Adjustment] = {}
    for sample in done:
        for adjustment in sample.adjustments:
            seen.setdefault((adjustment.param, adjustment.action), adjustment)
    return list(seen.values())


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_comparison(request: CompareRequest, upstreams: Upstreams) -> Comparison:
    """Run a whole comparison and return its result."""
    # Nobody watches the text stream in: reporting it token by token would only cost CPU.
    stream = stream_comparison(request, upstreams, live=False)
    try:
        async for event in stream:
            if isinstance(event, ComparisonDone):
                return event.result
    finally:
        await stream.aclose()
    raise RuntimeError("comparison ended without a result")  # pragma: no cover
