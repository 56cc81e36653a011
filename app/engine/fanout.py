"""Run a comparison: every preset x sample request at once, events as they stream.

`stream_comparison` yields events in arrival order; `run_comparison` waits for the end.
Closing the stream early, or setting `stop`, closes every upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from app.engine.analysis import SampleView, analyze
from app.engine.endpoints import Upstreams
from app.engine.presets import CompareRequest, Preset, lint_all
from app.engine.results import Column, Comparison, Sample, Usage
from app.engine.upstream import Chunk, Finish, Upstream, UpstreamError
from app.ops import metrics


@dataclass(frozen=True)
class Delta:
    """New text for one sample, with its progress so far."""

    column: int
    sample: int
    text: str
    tokens: int
    tokens_per_second: float | None


@dataclass(frozen=True)
class SampleDone:
    column: int
    sample: int
    result: Sample


@dataclass(frozen=True)
class ColumnDone:
    column: int
    result: Column


@dataclass(frozen=True)
class ComparisonDone:
    result: Comparison
    stopped: bool


@dataclass(frozen=True)
class Idle:
    """Nothing arrived for a while; lets a consumer check that its client is still there."""


Event = Delta | SampleDone | ColumnDone | ComparisonDone | Idle

STOPPED = "Stopped before the answer was complete."
log = logging.getLogger("knobs.fanout")


def messages_for(request: CompareRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    return [*messages, {"role": "user", "content": request.prompt}]


async def _run_sample(
    upstream: Upstream,
    request: CompareRequest,
    column: int,
    sample: int,
    queue: asyncio.Queue[Message],
) -> None:
    """One request; reports deltas and exactly one SampleDone unless cancelled, whatever
    goes wrong: a comparison must never wait for a sample that died."""
    parts: list[str] = []
    try:
        result = await _request_sample(upstream, request, column, sample, queue, parts)
    except Exception as failure:  # noqa: BLE001 - a surprise fails this sample, not the run
        log.exception("sample %d of column %d failed unexpectedly", sample + 1, column + 1)
        message = f"Knobs could not handle this answer ({type(failure).__name__}: {failure})."
        result = Sample(text="".join(parts), error=upstream.redact(message), incomplete=True)
    status = "error" if result.error else (result.finish_reason or "unknown")
    metrics.record_sample(upstream.endpoint.name, status, result.latency_ms, result.ttft_ms)
    queue.put_nowait(SampleDone(column, sample, result))


async def _request_sample(
    upstream: Upstream,
    request: CompareRequest,
    column: int,
    sample: int,
    queue: asyncio.Queue[Message],
    parts: list[str],
) -> Sample:
    preset = request.presets[column]
    chunks = 0
    async with upstream.limit:
        with metrics.UPSTREAM_IN_FLIGHT.labels(upstream.endpoint.name).track_inprogress():
            started = time.perf_counter()
            first: float | None = None
            finish: Finish | None = None
            error: str | None = None
            try:
                async for item in upstream.stream_chat(preset, messages_for(request)):
                    if isinstance(item, Chunk):
                        now = time.perf_counter()
                        first = first or now
                        chunks += 1
                        parts.append(item.text)
                        rate = _rate(chunks - 1, now - first)
                        queue.put_nowait(Delta(column, sample, item.text, chunks, rate))
                    else:
                        finish = item
            except UpstreamError as failure:
                error = str(failure)
            ended = time.perf_counter()
    return _sample_result(parts, chunks, started, first, ended, finish, error)


def _rate(tokens: int, seconds: float) -> float | None:
    return round(tokens / seconds, 1) if seconds > 0 and tokens > 0 else None


def _sample_result(
    parts: list[str],
    chunks: int,
    started: float,
    first: float | None,
    ended: float,
    finish: Finish | None,
    error: str | None,
) -> Sample:
    # Servers that send no usage get an estimate: one streamed chunk is about one token.
    completion = finish.completion_tokens if finish and finish.completion_tokens else chunks
    generating = ended - first if first else 0.0
    return Sample(
        text="".join(parts),
        finish_reason=finish.finish_reason if finish else None,
        usage=Usage(
            prompt_tokens=finish.prompt_tokens if finish else None,
            completion_tokens=completion if (finish or chunks) else None,
            total_tokens=(finish.prompt_tokens + completion)
            if finish and finish.prompt_tokens is not None
            else None,
        ),
        ttft_ms=round((first - started) * 1000, 1) if first else None,
        latency_ms=round((ended - started) * 1000, 1),
        tokens_per_second=_rate(max(completion - 1, 0), generating),
        system_fingerprint=finish.system_fingerprint if finish else None,
        model=finish.model if finish else None,
        error=error,
        incomplete=error is not None,
    )


class _StopPressed:
    """Put on the queue when `stop` is set, so the loop below only ever awaits the queue."""


Message = Delta | SampleDone | Idle | _StopPressed


async def _relay_stop(stop: asyncio.Event, queue: asyncio.Queue[Message]) -> None:
    await stop.wait()
    queue.put_nowait(_StopPressed())


async def _tick(every: float, queue: asyncio.Queue[Message]) -> None:
    while True:
        await asyncio.sleep(every)
        queue.put_nowait(Idle())


async def stream_comparison(
    request: CompareRequest,
    upstreams: Upstreams,
    stop: asyncio.Event | None = None,
    idle_every: float | None = None,
) -> AsyncGenerator[Event, None]:
    """Start every request at once and yield events until all have finished or `stop` is set.
    With `idle_every`, an `Idle` event is also yielded that often."""
    # One queue, awaited plainly: a future per event (asyncio.wait on queue and stop) cost
    # more than parsing the chunk itself once two dozen streams run at once.
    queue: asyncio.Queue[Message] = asyncio.Queue()
    n_columns, n_samples = len(request.presets), request.samples
    warnings = lint_all(request.presets)
    clients = [_client_for(preset, upstreams) for preset in request.presets]
    tasks = [
        asyncio.create_task(_run_sample(clients[c], request, c, s, queue))
        for c in range(n_columns)
        for s in range(n_samples)
    ]
    helpers = [asyncio.create_task(_relay_stop(stop, queue))] if stop else []
    if idle_every:
        helpers.append(asyncio.create_task(_tick(idle_every, queue)))
    results: list[list[Sample | None]] = [[None] * n_samples for _ in range(n_columns)]
    partial: dict[tuple[int, int], list[str]] = {}
    columns: list[Column | None] = [None] * n_columns
    stopped = False
    outcome = "abandoned"  # unless it gets to the end: the client left, or it failed
    began = time.perf_counter()
    metrics.COMPARISONS_IN_FLIGHT.inc()
    try:
        remaining = len(tasks)
        while remaining:
            event = await queue.get()
            if isinstance(event, _StopPressed):
                stopped = True
                break
            if isinstance(event, Idle | Delta):
                if isinstance(event, Delta):
                    partial.setdefault((event.column, event.sample), []).append(event.text)
                yield event
                continue
            remaining -= 1
            results[event.column][event.sample] = event.result
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
                        text = "".join(partial.get((c, s), []))
                        sample = Sample(text=text, error=STOPPED, incomplete=True)
                        results[c][s] = sample
                        yield SampleDone(c, s, sample)
                column = _finish_column(request, c, results, warnings, clients)
                assert column is not None  # every sample has a result now
                columns[c] = column
                yield ColumnDone(c, column)
        finished = [c for c in columns if c is not None]
        comparison = Comparison(system=request.system, prompt=request.prompt, columns=finished)
        outcome = "stopped" if stopped else "finished"
        yield ComparisonDone(comparison, stopped)
    finally:
        metrics.COMPARISONS_IN_FLIGHT.dec()
        metrics.COMPARISONS.labels(outcome).inc()
        failed = sum(bool(s and s.error) for column in results for s in column)
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
    """A configured endpoint, or the preset's own (both already checked by app/engine/caps.py)."""
    if preset.base_url is None:
        return upstreams.for_preset(preset)
    key = preset.api_key.get_secret_value() if preset.api_key else None
    return Upstream.custom(preset.base_url, key, upstreams.default.settings)


def _finish_column(
    request: CompareRequest,
    index: int,
    results: list[list[Sample | None]],
    warnings: list[list[str]],
    clients: list[Upstream],
) -> Column | None:
    """The column with its flags once all its samples are in, else None."""
    samples = [s for s in results[index] if s is not None]
    if len(samples) < len(results[index]):
        return None
    preset = request.presets[index]
    views = [
        SampleView(s.text, s.finish_reason, s.system_fingerprint, ok=s.error is None)
        for s in samples
    ]
    flags = analyze(views, preset.expects_repeatable())
    return Column(
        preset=preset,
        samples=samples,
        flags=flags,
        warnings=warnings[index],
        endpoint=clients[index].endpoint.name,
        model=next((s.model for s in samples if s.model), preset.model),
    )


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_comparison(request: CompareRequest, upstreams: Upstreams) -> Comparison:
    """Run a whole comparison and return its result."""
    stream = stream_comparison(request, upstreams)
    try:
        async for event in stream:
            if isinstance(event, ComparisonDone):
                return event.result
    finally:
        await stream.aclose()
    raise RuntimeError("comparison ended without a result")  # pragma: no cover
