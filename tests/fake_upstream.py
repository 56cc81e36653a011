"""A fake OpenAI-compatible server for tests and benchmarks: real HTTP, real SSE streaming.

`with FakeUpstream() as fake:` serves on `fake.base_url`; `fake.behave(...)` steers it and
`fake.requests` / `fake.max_in_flight` record what arrived. `fake.limit_slots(1)` makes it
answer one request at a time and queue the rest, as llama.cpp's server does with one slot.
Standalone, until Ctrl-C: `python -m tests.fake_upstream --port 9999 --latency 0.3`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_MODELS = ("fake-model", "fake-model-large")
# Ids like OpenAI's /v1/models lists (late 2025): chat models among embeddings, speech, image,
# moderation, realtime and legacy ones; the first, by order and alphabet, cannot chat.
OPENAI_LIKE_MODELS = tuple(
    """
    babbage-002 dall-e-2 dall-e-3 davinci-002 gpt-3.5-turbo-instruct gpt-3.5-turbo-instruct-0914
    gpt-image-1 gpt-image-1-mini chatgpt-image-latest
    text-embedding-3-small text-embedding-3-large text-embedding-ada-002
    tts-1 tts-1-hd tts-1-1106 tts-1-hd-1106 gpt-4o-mini-tts gpt-4o-mini-tts-2025-03-20
    whisper-1 gpt-4o-transcribe gpt-4o-mini-transcribe gpt-4o-transcribe-diarize
    omni-moderation-latest omni-moderation-2024-09-26 text-moderation-latest
    gpt-4o-realtime-preview gpt-4o-realtime-preview-2024-12-17 gpt-4o-mini-realtime-preview
    gpt-realtime gpt-realtime-2025-08-28 gpt-realtime-mini
    gpt-4o-audio-preview gpt-4o-audio-preview-2024-12-17 gpt-4o-mini-audio-preview
    gpt-audio gpt-audio-2025-08-28 gpt-audio-mini sora-2 sora-2-pro
    o1-pro o1-pro-2025-03-19 o3-pro gpt-5-pro gpt-5-codex gpt-5.1-codex gpt-5.1-codex-mini
    codex-mini-latest computer-use-preview o3-deep-research o4-mini-deep-research
    gpt-4-0613 gpt-4 gpt-3.5-turbo gpt-3.5-turbo-0125 gpt-3.5-turbo-1106 gpt-3.5-turbo-16k
    gpt-4-turbo gpt-4-turbo-2024-04-09 gpt-4-turbo-preview gpt-4-0125-preview gpt-4-1106-preview
    gpt-4o gpt-4o-2024-05-13 gpt-4o-2024-08-06 gpt-4o-2024-11-20 gpt-4o-mini gpt-4o-mini-2024-07-18
    chatgpt-4o-latest gpt-4o-search-preview gpt-4o-mini-search-preview gpt-5-search-api
    gpt-4.1 gpt-4.1-2025-04-14 gpt-4.1-mini gpt-4.1-mini-2025-04-14 gpt-4.1-nano
    gpt-4.1-nano-2025-04-14 o1 o1-2024-12-17 o3 o3-2025-04-16 o3-mini o3-mini-2025-01-31
    o4-mini o4-mini-2025-04-16 gpt-5 gpt-5-2025-08-07 gpt-5-mini gpt-5-mini-2025-08-07
    gpt-5-nano gpt-5-nano-2025-08-07 gpt-5-chat-latest gpt-5.1 gpt-5.1-2025-11-13
    gpt-5.1-chat-latest
    """.split()  # noqa: SIM905 - a family of ids a line reads better than 95 lines
)
DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog."
_WORDS = re.compile(r"\s*\S+\s*")  # one chunk (and one token) per word, with its spacing
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_MALFORMED = b"data: {not json\n\n"
_ERRORS: dict[int, tuple[str, str | None, str]] = {  # status -> (type, code, default message)
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You do not have access to this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached; try again later."),
    500: ("server_error", None, "The server had an error processing your request."),
    503: ("server_error", None, "The server is overloaded; try again later."),
}


@dataclass(frozen=True)
class Behaviour:
    """How chat requests are answered: the knobs of `behave()` and `behave_for()`."""

    text: str = DEFAULT_TEXT  # the answer, streamed ~one word (= one token) per chunk
    texts: Sequence[str] | None = None  # answers cycled per answered request (beats text)
    latency: float = 0.0  # seconds before the headers
    latency_per_temperature: float = 0.0  # and this many more per unit of temperature sent
    chunk_delay: float = 0.0  # seconds between chunks (non-streaming: per chunk, in total)
    finish_reason: str | None = None  # forced; else "length" if max_tokens cut it, else "stop"
    fingerprint: str | Sequence[str] | None = "fp_fake"  # a list cycles per answer; None: omit
    nondeterministic: bool = False  # append " Variant {n}." with a server-wide counter n
    status: int | None = None  # answer with this HTTP error and an OpenAI-style error body
    error_message: str | None = None  # that error's message (else a stock one per status)
    fail_times: int | None = None  # only the first N requests fail (with status, or 500)
    retry_after: str | None = None  # Retry-After header sent with an error status
    break_after: int | None = None  # drop the connection after N chunks: no finish, no [DONE]
    malformed_after: int | None = None  # send "data: {not json" after N chunks, then go on
    hang: bool = False  # never answer; ends when the client leaves or the server stops
    usage: dict[str, Any] | None = None  # sent instead of the real counts (even malformed)
    # Dialects of today's servers:
    reasoning: str | None = None  # streamed before the answer; its length follows the effort
    reasoning_field: str = "reasoning_content"  # DeepSeek/old vLLM; "reasoning": Ollama & co
    reasoning_tokens: bool = True  # report usage.completion_tokens_details.reasoning_tokens
    reasoning_model: bool = False  # refuse what o-series/gpt-5 refuse, with OpenAI's 400s
    refusal: str | None = None  # refuse: stream this as delta.refusal, content null
    no_stream_options: bool = False  # reject stream_options, as Azure-style servers do
    # Token probabilities, sent when the request asks (logprobs, top_logprobs): each chunk's
    # token at this probability, its alternatives at halving ones ("alt1", "alt2", ...).
    logprob: float = 0.5
    timings: bool = False  # llama.cpp's `timings` (its own prompt/generation ms) at the end


@dataclass(frozen=True)
class Received:
    """One recorded chat request: its JSON body and its (lower-cased) headers."""

    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""  # the body's bytes exactly as they arrived


@dataclass
class _Rule:
    behaviour: Behaviour
    seen: int = 0  # requests handled under this rule (drives fail_times)
    answered: int = 0  # requests that got an answer (drives the texts/fingerprint cycles)


class _Abort(Exception):
    """Raised to make uvicorn drop the connection mid-response (a deliberate cut)."""


class _Asgi:
    """A raw ASGI endpoint for Starlette's Route (which would wrap a plain method)."""

    def __init__(self, handler: ASGIApp) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def error_body(
    status: int, message: str | None = None, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error body for `status`."""
    kind, stock_code, default = _ERRORS.get(status, ("api_error", None, f"Error {status}."))
    error = {"message": message or default, "type": kind}
    error |= {"param": param} if param else {}  # OpenAI's own bodies carry it when it is known
    return {"error": error | {"code": code or stock_code}}


# What a reasoning model refuses, in OpenAI's own words (param, code, message).
_REASONING_REFUSES = ("top_p", "frequency_penalty", "presence_penalty", "logprobs")
_EFFORT_REPEATS = {"none": 0, "minimal": 1, "low": 1, "medium": 2, "high": 4}


def refused_by(b: Behaviour, body: dict[str, Any]) -> dict[str, Any] | None:
    """The 400 body a server in `b`'s dialect answers `body` with, or None if it takes it."""
    if b.no_stream_options and "stream_options" in body:
        message = "Unrecognized request argument supplied: stream_options"
        return error_body(400, message)
    if not b.reasoning_model:
        return None
    if "max_tokens" in body:
        message = (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        return error_body(400, message, "max_tokens", "unsupported_parameter")
    temperature = body.get("temperature", 1)
    if temperature != 1:
        message = (
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported."
        )
        return error_body(400, message, "temperature", "unsupported_value")
    for param in _REASONING_REFUSES:
        if param in body:
            message = f"Unsupported parameter: '{param}' is not supported with this model."
            return error_body(400, message, param, "unsupported_parameter")
    return None


def reasoning_for(b: Behaviour, body: dict[str, Any]) -> str:
    """The reasoning text for one request: longer at a higher reasoning_effort."""
    repeats = _EFFORT_REPEATS.get(str(body.get("reasoning_effort")), 2)
    return " ".join([b.reasoning] * repeats) if b.reasoning else ""


def logprobs_for(token: str, b: Behaviour, body: dict[str, Any]) -> dict[str, Any]:
    """One token's `logprobs.content` entry, as OpenAI streams it."""
    top = body.get("top_logprobs") or 0
    others = [(f"alt{n}", b.logprob / 2**n) for n in range(1, top)]
    choices = [(token, b.logprob), *others][:top]
    return {
        "token": token,
        "logprob": math.log(b.logprob),
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in choices],
    }


def llama_timings(prompt: int, predicted: int, began: float, first: float) -> dict[str, Any]:
    """llama.cpp's `timings` for an answer whose first chunk went at `first`: the time
    before it counts as reading the prompt, the time after as generating."""
    prompt_ms, predicted_ms = (first - began) * 1000, (time.perf_counter() - first) * 1000
    per_second = predicted / predicted_ms * 1000 if predicted_ms > 0 else 0.0
    return {
        "prompt_n": prompt,
        "prompt_ms": prompt_ms,
        "predicted_n": predicted,
        "predicted_ms": predicted_ms,
        "predicted_per_second": per_second,
    }


def split_chunks(text: str) -> list[str]:
    """The stream chunks for `text`: about one word each; they join back to `text`."""
    return _WORDS.findall(text) or ([text] if text else [])


class FakeUpstream:
    """An OpenAI-compatible server on 127.0.0.1, run by uvicorn in a background thread."""

    def __init__(self, models: Sequence[str] = DEFAULT_MODELS, port: int = 0) -> None:
        self._initial_models = tuple(models)
        self.models = list(models)
        self._port = port
        self._lock = threading.Lock()
        self._default = _Rule(Behaviour())
        self._rules: dict[str, _Rule] = {}
        self._requests: list[Received] = []
        self._in_flight = self._max_in_flight = self._variant = 0
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stops: set[asyncio.Event] = set()  # one per open chat request (loop thread only)
        self._closing = False
        self._slots: int | None = None  # requests answered at once; None: all
        self._report_slots = False
        self._gate: tuple[int, asyncio.Semaphore] | None = None  # (slots, its semaphore)
        models_route = Route("/v1/models", self._models, methods=["GET"])
        chat_route = Route("/v1/chat/completions", _Asgi(self._chat), methods=["POST"])
        props_route = Route("/props", self._props, methods=["GET"])
        self.app = Starlette(routes=[models_route, chat_route, props_route])

    def limit_slots(self, slots: int | None, report: bool = False) -> None:
        """Answer `slots` chat requests at once and queue the rest in arrival order (None:
        all at once). With `report`, GET /props says so as llama.cpp does (`total_slots`);
        else it answers 404, as servers without it do."""
        with self._lock:
            self._slots, self._report_slots = slots, report

    def behave(self, **knobs: Any) -> None:
        """Reset the default behaviour, then apply `knobs` (see Behaviour). Overrides stay."""
        with self._lock:
            self._default = _Rule(replace(Behaviour(), **knobs))

    def behave_for(self, model: str, **knobs: Any) -> None:
        """Override the behaviour for one model: the defaults plus `knobs`."""
        with self._lock:
            self._rules[model] = _Rule(replace(Behaviour(), **knobs))

    def reset(self) -> None:
        """Forget recorded requests, behaviours, counters and model-list changes."""
        with self._lock:
            self._default, self._rules, self._requests = _Rule(Behaviour()), {}, []
            self._max_in_flight, self._variant = self._in_flight, 0
            self.models = list(self._initial_models)
            self._slots, self._report_slots = None, False

    @property
    def requests(self) -> list[Received]:
        """Chat requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def in_flight(self) -> int:
        """Chat requests in progress right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most chat requests that were in progress at the same time."""
        with self._lock:
            return self._max_in_flight

    def _plan(self, model: str) -> tuple[Behaviour, int | None, str, str | None]:
        """The behaviour, error status, text and fingerprint for the next request."""
        with self._lock:
            rule = self._rules.get(model, self._default)
            b = rule.behaviour
            rule.seen += 1
            failing = b.status is not None or b.fail_times is not None
            if b.hang or (failing and (b.fail_times is None or rule.seen <= b.fail_times)):
                return b, None if b.hang else b.status or 500, "", None
            index, rule.answered = rule.answered, rule.answered + 1
            text = b.texts[index % len(b.texts)] if b.texts else b.text
            if b.nondeterministic:
                self._variant += 1
                text += f" Variant {self._variant}."
            fp = b.fingerprint
            if fp is not None and not isinstance(fp, str):
                fp = fp[index % len(fp)] if fp else None
            return b, None, text, fp

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, "http://127.0.0.1:PORT/v1"."""
        if self._server is None:
            raise RuntimeError("FakeUpstream is not running; call start() first")
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> FakeUpstream:
        """Bind the port and serve in a background thread; returns once it accepts requests."""
        if self._thread is not None:
            raise RuntimeError("FakeUpstream is already running")
        sock = socket.create_server(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            http="h11",
            loop="asyncio",
            ws="none",
            lifespan="off",
            log_config=None,  # leave logging alone; uvicorn.error still reaches the root logger
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        self._server = server = uvicorn.Server(config)
        self._closing = False
        coroutine = self._serve(server, sock)
        self._thread = threading.Thread(target=asyncio.run, args=(coroutine,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeUpstream failed to start")
            time.sleep(0.005)
        return self

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        with sock:
            await server.serve(sockets=[sock])

    def stop(self) -> None:
        """Shut down: end hanging and streaming requests, close the socket, join the thread."""
        thread, server, loop = self._thread, self._server, self._loop
        if thread is None or server is None:
            return
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(self._close_all)
        server.should_exit = True
        thread.join(timeout=15)
        self._thread = self._server = self._loop = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _close_all(self) -> None:
        self._closing = True
        for stop in self._stops:
            stop.set()

    async def _props(self, request: Request) -> JSONResponse:
        with self._lock:
            slots = self._slots if self._report_slots else None
        if slots is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return JSONResponse({"total_slots": slots, "default_generation_settings": {}})

    def _slot_gate(self) -> asyncio.Semaphore | None:
        """The semaphore for the current number of slots (loop thread only)."""
        with self._lock:
            slots = self._slots
        if slots is None:
            return None
        if self._gate is None or self._gate[0] != slots:
            self._gate = (slots, asyncio.Semaphore(slots))
        return self._gate[1]

    async def _models(self, request: Request) -> JSONResponse:
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await Request(scope, receive).body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            await _send_json(send, 400, error_body(400, "The body must be a JSON object."))
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self._requests.append(Received(body, headers, raw))
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        stop = asyncio.Event()  # set when the client goes away or the server stops
        self._stops.add(stop)
        if self._closing:
            stop.set()
        watcher = asyncio.create_task(_watch_disconnect(receive, stop))
        gate = self._slot_gate()
        try:
            if gate is None:
                await self._answer(body, send, stop)
            else:
                async with gate:  # the server's own queue: a client's clock runs meanwhile
                    await self._answer(body, send, stop)
        finally:
            watcher.cancel()
            self._stops.discard(stop)
            with self._lock:
                self._in_flight -= 1

    async def _answer(self, body: dict[str, Any], send: Send, stop: asyncio.Event) -> None:
        model = str(body.get("model") or (self.models or ["fake-model"])[0])
        b, status, text, fingerprint = self._plan(model)
        if b.hang:
            await stop.wait()
        warmth = body.get("temperature")
        later = b.latency_per_temperature * warmth if isinstance(warmth, int | float) else 0.0
        # No headers yet: a clean 503 if shutting down.
        if not await _pause(stop, b.latency + later):
            if self._closing:
                await _send_json(send, 503, error_body(503, "The fake upstream is stopping."))
            return
        if status is not None:
            extra = [(b"retry-after", b.retry_after.encode())] if b.retry_after else []
            await _send_json(send, status, error_body(status, b.error_message), extra)
            return
        refused = refused_by(b, body)
        if refused is not None:
            await _send_json(send, 400, refused)
            return
        # Reasoning comes first and counts against the same budget as the answer.
        thoughts = split_chunks(reasoning_for(b, body))
        chunks, reason = split_chunks(text if b.refusal is None else b.refusal), "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(thoughts) + len(chunks):
            thoughts = thoughts[:limit]
            chunks, reason = chunks[: limit - len(thoughts)], "length"
        reason = b.finish_reason or reason
        messages = body.get("messages") or ()
        prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
        n = len(thoughts) + len(chunks)
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": n}
        usage["total_tokens"] = prompt + n
        if thoughts and b.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": len(thoughts)}
        usage = usage if b.usage is None else b.usage
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time())}
        head |= {"model": model} | ({"system_fingerprint": fingerprint} if fingerprint else {})
        if not body.get("stream"):
            if not await _pause(stop, b.chunk_delay * n):
                raise _Abort
            said = "".join(chunks)
            message = {"role": "assistant", "content": said if b.refusal is None else None}
            message |= {"refusal": said} if b.refusal is not None else {}
            message |= {b.reasoning_field: "".join(thoughts)} if thoughts else {}
            choice = {"index": 0, "message": message, "finish_reason": reason, "logprobs": None}
            answer = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            await _send_json(send, 200, answer)
            return
        # The shared fields are serialised once; each event only adds its own tail.
        prefix = "data: " + json.dumps({**head, "object": "chat.completion.chunk"})[:-1] + ","
        # Events keep to a schedule (chunk i is due i * chunk_delay after the first) and go
        # out in one write when they are due together: a server that wakes late sends what is
        # due at once, so the stream keeps its rate instead of drifting below it.
        held: list[bytes] = []

        def emit(**rest: Any) -> None:
            held.append((prefix + json.dumps(rest)[1:] + "\n\n").encode())

        async def flush() -> None:
            if held:
                await _send_body(send, b"".join(held))
                held.clear()

        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        began, first = time.perf_counter(), None
        cut = n if b.break_after is None else min(b.break_after, n)
        bad = None if b.malformed_after is None else min(b.malformed_after, cut)
        for piece in thoughts:
            delta = {b.reasoning_field: piece, "content": None}
            emit(choices=[{"index": 0, "delta": delta, "finish_reason": None}])
        field = "content" if b.refusal is None else "refusal"
        clock = asyncio.get_running_loop().time
        start = clock()
        for i, piece in enumerate(chunks[:cut]):
            if i == bad:
                held.append(_MALFORMED)
            wait = start + i * b.chunk_delay - clock()
            if wait > 0:
                await flush()
                if not await _pause(stop, wait):
                    raise _Abort
            delta = {field: piece} | ({"content": None} if b.refusal is not None else {})
            delta = {"role": "assistant", **delta} if i == 0 else delta
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            if body.get("logprobs") is True:
                choice["logprobs"] = {"content": [logprobs_for(piece, b, body)]}
            emit(choices=[choice])
            first = first or time.perf_counter()
        if bad == cut:
            held.append(_MALFORMED)
        if b.break_after is not None:
            await flush()
            raise _Abort
        end: dict[str, Any] = {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
        if b.timings:
            end["timings"] = llama_timings(prompt, n, began, first or began)
        emit(**end)
        if (body.get("stream_options") or {}).get("include_usage"):
            emit(choices=[], usage=usage)
        held.append(b"data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"".join(held)})


async def _send_body(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    headers += list(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _watch_disconnect(receive: Receive, stop: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stop.set()


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless stopped first; False when the request should end now."""
    if seconds > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()
    return not stop.is_set()


# Deliberate cuts are not server errors: keep their tracebacks out of the log.
logging.getLogger("uvicorn.error").addFilter(
    lambda record: not (record.exc_info and isinstance(record.exc_info[1], _Abort))
)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake upstream until Ctrl-C."""
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--nondeterministic", action="store_true")
    args = parser.parse_args(argv)
    fake = FakeUpstream(port=args.port)
    knobs = ("latency", "chunk_delay", "text", "nondeterministic")
    fake.behave(**{knob: getattr(args, knob) for knob in knobs})
    with fake:
        print(f"Fake upstream at {fake.base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
