"""One request of a comparison: its streamed text, timings and usage, as one `Sample`."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from app.engine.events import Delta, SampleDone
from app.engine.presets import CompareRequest
from app.engine.results import Sample, Usage
from app.engine.upstream import Chunk, Finish, Upstream, UpstreamError
from app.engine.upstream_errors import redact
from app.ops import metrics

log = logging.getLogger("knobs.fanout")


class Reports(Protocol):
    """Where a sample reports: the fan-out's queue."""

    def put_nowait(self, item: Delta | SampleDone, /) -> None: ...


def messages_for(request: CompareRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    return [*messages, {"role": "user", "content": request.prompt}]


async def run_sample(
    upstream: Upstream,
    request: CompareRequest,
    column: int,
    sample: int,
    queue: Reports,
) -> None:
    """One request; reports deltas and exactly one SampleDone unless cancelled, whatever
    goes wrong: a comparison must never wait for a sample that died."""
    parts: list[str] = []
    try:
        result = await _request_sample(upstream, request, column, sample, queue, parts)
    except Exception as failure:  # noqa: BLE001 - a surprise fails this sample, not the run
        log.exception("sample %d of column %d failed unexpectedly", sample + 1, column + 1)
        message = f"Knobs could not handle this answer ({type(failure).__name__}: {failure})."
        result = Sample(
            text="".join(parts), error=redact(message, upstream.endpoint.api_key), incomplete=True
        )
    status = "error" if result.error else (result.finish_reason or "unknown")
    metrics.record_sample(upstream.endpoint.name, status, result.latency_ms, result.ttft_ms)
    queue.put_nowait(SampleDone(column, sample, result))


async def _request_sample(
    upstream: Upstream,
    request: CompareRequest,
    column: int,
    sample: int,
    queue: Reports,
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
