"""One request of a comparison: its streamed answer and reasoning, timings and usage, as
one `Sample`."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from app.engine.dialects import Chunk, Finish, ServerTimings, TokenProb
from app.engine.events import Delta, SampleDone, Sent, Thinking
from app.engine.presets import CompareRequest
from app.engine.results import Sample, Usage
from app.engine.upstream import Sending, Upstream
from app.engine.upstream_errors import UpstreamError, redact
from app.ops.metrics import Metrics

log = logging.getLogger("knobs.fanout")
# The live tokens/s is shown once the answer has streamed this long (seconds).
LIVE_RATE_AFTER = 0.25


class Reports(Protocol):
    """Where a sample reports: the fan-out's queue."""

    def put_nowait(self, item: Sent | Delta | Thinking | SampleDone, /) -> None: ...


async def run_sample(
    upstream: Upstream,
    request: CompareRequest,
    column: int,
    sample: int,
    queue: Reports,
    sending: Sending,
    got: Received,
    metrics: Metrics,
    live: bool = True,
) -> None:
    """One request; reports exactly one SampleDone unless cancelled, whatever goes wrong: a
    comparison must never wait for a sample that died. With `live`, also the text as it
    streams (Delta, Thinking). `sending` and `got` are filled in as the request goes out and
    the answer comes in, so that a sample cancelled by Stop still says what it sent and what
    had arrived."""
    try:
        result = await _request_sample(
            upstream, request, column, sample, queue, got, sending, metrics, live
        )
    except Exception as failure:  # noqa: BLE001 - a surprise fails this sample, not the run
        log.exception("sample %d of column %d failed unexpectedly", sample + 1, column + 1)
        message = f"Knobs could not handle this answer ({type(failure).__name__}: {failure})."
        result = got.partial(redact(message, upstream.endpoint.api_key))
    status = "error" if result.error else (result.finish_reason or "unknown")
    metrics.record_sample(upstream.endpoint.name, status, result.latency_ms, result.ttft_ms)
    queue.put_nowait(done(column, sample, result, sending))


def done(column: int, sample: int, result: Sample, sending: Sending) -> SampleDone:
    """A sample's end as reported: its result, what it sent and what was changed."""
    return SampleDone(column, sample, result, sending.sent, tuple(sending.adjustments))


class Received:
    """What has streamed in so far, by kind, and when each kind first arrived."""

    def __init__(self) -> None:
        self.answer: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.first: float | None = None  # any token
        self.first_answer: float | None = None
        self.started: float | None = None  # when the request went out
        self.logprobs: list[TokenProb] = []  # only when the preset asked for them
        self.queued_ms: float | None = None

    @property
    def sent(self) -> bool:
        """False while it waits for its turn at the endpoint."""
        return self.started is not None

    def add(self, chunk: Chunk, now: float) -> None:
        self.first = self.first or now
        if chunk.kind == "answer":
            self.first_answer = self.first_answer or now
            self.answer.append(chunk.text)
            if chunk.logprobs:
                self.logprobs.extend(chunk.logprobs)
        elif chunk.kind == "reasoning":
            self.reasoning.append(chunk.text)
        else:
            self.refusal.append(chunk.text)

    def partial(self, error: str) -> Sample:
        """A sample that ended early with `error`: what had arrived, marked incomplete, with
        the stats of that (a stopped sample's TTFT and tokens are still worth seeing)."""
        if not self.sent:  # stopped while waiting for its turn: nothing was timed
            return Sample(error=error, incomplete=True)
        now = time.perf_counter()
        return _sample_result(self, self.started or now, now, None, error)


async def _request_sample(
    upstream: Upstream,
    request: CompareRequest,
    column: int,
    sample: int,
    queue: Reports,
    got: Received,
    sending: Sending,
    metrics: Metrics,
    live: bool,
) -> Sample:
    preset = request.presets[column]
    await upstream.learn_slots()
    # Waiting for a turn is measured apart: the clock for TTFT and total starts when sent.
    waited = await upstream.slots.take()
    metrics.upstream_queued.labels(upstream.endpoint.name).observe(waited or 0.0)
    got.queued_ms = round(waited * 1000, 1) if waited is not None else None
    if live:  # a page shows which samples are still waiting their turn
        queue.put_nowait(Sent(column, sample))
    try:
        with metrics.upstream_in_flight.labels(upstream.endpoint.name).track_inprogress():
            started = got.started = time.perf_counter()
            finish: Finish | None = None
            error: str | None = None
            try:
                async for item in upstream.stream_chat(preset, request.chat_messages(), sending):
                    if isinstance(item, Finish):
                        finish = item
                        continue
                    now = time.perf_counter()
                    answer, reasoning = len(got.answer), len(got.reasoning)
                    for chunk in item:
                        got.add(chunk, now)
                    if live:  # one report per read and kind, not per token
                        _report(column, sample, got, answer, reasoning, now, queue)
            except UpstreamError as failure:
                error = str(failure)
            ended = time.perf_counter()
    finally:
        upstream.slots.give_back()
    return _sample_result(got, started, ended, finish, error)


def _report(
    column: int, sample: int, got: Received, answer: int, reasoning: int, now: float, queue: Reports
) -> None:
    """What a read added, reasoning first, as it streamed: text, count so far and rate."""
    if len(got.reasoning) > reasoning:
        text = "".join(got.reasoning[reasoning:])
        queue.put_nowait(Thinking(column, sample, text, len(got.reasoning)))
    if len(got.answer) > answer:
        assert got.first_answer is not None
        count, seconds = len(got.answer), now - got.first_answer
        # Early on, a few tokens read together would make a rate of thousands a second.
        rate = _rate(count - 1, seconds) if seconds >= LIVE_RATE_AFTER else None
        queue.put_nowait(Delta(column, sample, "".join(got.answer[answer:]), count, rate))


def _rate(tokens: int, seconds: float) -> float | None:
    return round(tokens / seconds, 1) if seconds > 0 and tokens > 0 else None


def _ms(since: float, at: float | None) -> float | None:
    return round((at - since) * 1000, 1) if at else None


def _sample_result(
    got: Received, started: float, ended: float, finish: Finish | None, error: str | None
) -> Sample:
    # Servers that send no usage get an estimate: one streamed chunk is about one token.
    chunks = len(got.answer) + len(got.reasoning) + len(got.refusal)
    completion = finish.completion_tokens if finish and finish.completion_tokens else chunks
    reported = finish.reasoning_tokens if finish else None
    reasoning = reported if reported is not None else (len(got.reasoning) or None)
    answer_tokens = max(completion - (reasoning or 0), 0)
    generating = ended - got.first_answer if got.first_answer else 0.0
    measured = finish.timings if finish and finish.timings else ServerTimings(None, None, None)
    return Sample(
        text="".join(got.answer),
        reasoning="".join(got.reasoning),
        refusal="".join(got.refusal) or None,
        finish_reason=finish.finish_reason if finish else None,
        usage=Usage(
            prompt_tokens=finish.prompt_tokens if finish else None,
            completion_tokens=completion if (finish or chunks) else None,
            total_tokens=(finish.prompt_tokens + completion)
            if finish and finish.prompt_tokens is not None
            else None,
            reasoning_tokens=reasoning,
            cached_tokens=finish.cached_tokens if finish else None,
        ),
        queued_ms=got.queued_ms,
        ttft_ms=_ms(started, got.first_answer),
        first_token_ms=_ms(started, got.first),
        latency_ms=round((ended - started) * 1000, 1),
        # The server's own rate where it says: no network or event-loop jitter in it.
        tokens_per_second=measured.tokens_per_second
        or _rate(max(answer_tokens - 1, 0), generating),
        prompt_ms=measured.prompt_ms,
        generation_ms=measured.generation_ms,
        system_fingerprint=finish.system_fingerprint if finish else None,
        model=finish.model if finish else None,
        error=error,
        incomplete=error is not None,
        logprobs=got.logprobs or None,
    )
