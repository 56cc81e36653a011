"""A chat completion stream read line by line, in the dialects servers speak.

The answer is `delta.content`; reasoning arrives as `delta.reasoning_content` (DeepSeek,
older vLLM) or `delta.reasoning` (Ollama, OpenRouter, newer vLLM); a refusal as
`delta.refusal`. Usage may carry `completion_tokens_details.reasoning_tokens`. llama.cpp's
server adds `timings` (its own prompt and generation times) to its last chunks. Plain data
in, plain data out: upstream.py feeds it the lines it reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from app.engine.upstream_errors import UpstreamError, error_text

ChunkKind = Literal["answer", "reasoning", "refusal"]
_REASONING_FIELDS = ("reasoning_content", "reasoning")


class Alternative(BaseModel):
    token: str
    logprob: float


class TokenProb(BaseModel):
    """One answer token as the endpoint chose it, with its likeliest alternatives."""

    token: str
    logprob: float
    top: list[Alternative] = []


@dataclass(frozen=True)
class Chunk:
    text: str
    kind: ChunkKind = "answer"
    # Only when the request asked for logprobs: the chunk's tokens (`choices[].logprobs`).
    logprobs: tuple[TokenProb, ...] = ()


@dataclass(frozen=True)
class ServerTimings:
    """What the server measured of its own work (llama.cpp's `timings`), where it says."""

    prompt_ms: float | None
    generation_ms: float | None
    tokens_per_second: float | None


@dataclass(frozen=True)
class Finish:
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    system_fingerprint: str | None
    model: str | None
    # Of completion_tokens, how many went on reasoning, where the server says.
    reasoning_tokens: int | None = None
    # Of prompt_tokens, how many were read from the provider's cache (billed at less).
    cached_tokens: int | None = None
    timings: ServerTimings | None = None


class StreamReader:
    """One stream's state: feed it each line, then ask for the `Finish`."""

    def __init__(self) -> None:
        self.done = False
        self._finish_reason: str | None = None
        self._fingerprint: str | None = None
        self._model: str | None = None
        self._usage: dict[str, Any] = {}
        self._timings: dict[str, Any] = {}
        self._rest = b""  # a line cut across two reads, until its end arrives

    def feed_bytes(self, data: bytes) -> list[Chunk]:
        """The chunks in the next bytes read: whole lines, each fed as `feed` takes it.
        Reading bytes rather than text lines spares a layer of work per event, which counts
        at thousands of events a second."""
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        chunks: list[Chunk] = []
        for line in lines:
            if line.startswith(b"data:"):
                chunks += self.feed(line.decode())
        return chunks

    def feed(self, line: str) -> list[Chunk]:
        """The chunks in one line of the stream; after `[DONE]`, none."""
        # After [DONE] the caller reads on to the end of the body (so the connection can
        # be reused); whatever comes then is not part of the answer.
        if self.done or not line.startswith("data:"):
            return []
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return []
        try:
            event = json.loads(data)
        except json.JSONDecodeError as error:
            raise UpstreamError(
                "The endpoint sent a malformed stream event; the answer is incomplete."
            ) from error
        if not isinstance(event, dict):
            return []
        if "error" in event:
            raise UpstreamError(f"The endpoint reported an error: {error_text(event)}")
        self._fingerprint = event.get("system_fingerprint") or self._fingerprint
        self._model = event.get("model") or self._model
        usage = event.get("usage")
        self._usage = usage if isinstance(usage, dict) else self._usage
        timings = event.get("timings")
        self._timings = timings if isinstance(timings, dict) else self._timings
        chunks = []
        for choice in event.get("choices") or ():
            delta = choice.get("delta") or {}
            for name in _REASONING_FIELDS:
                if isinstance(delta.get(name), str) and delta[name]:
                    chunks.append(Chunk(delta[name], "reasoning"))
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                chunks.append(Chunk(delta["refusal"], "refusal"))
            if isinstance(delta.get("content"), str) and delta["content"]:
                scored = _logprobs(choice) if choice.get("logprobs") else ()
                chunks.append(Chunk(delta["content"], logprobs=scored))
            self._finish_reason = choice.get("finish_reason") or self._finish_reason
        return chunks

    def finish(self) -> Finish:
        """How the stream ended; an error if it never said."""
        if self._finish_reason is None:
            raise UpstreamError(
                "The stream ended without a finish reason; the answer may be incomplete."
            )
        usage = self._usage
        details = usage.get("completion_tokens_details")
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        prompt_details = usage.get("prompt_tokens_details")
        cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
        return Finish(
            finish_reason=self._finish_reason,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            system_fingerprint=self._fingerprint,
            model=self._model,
            reasoning_tokens=reasoning,
            cached_tokens=cached if isinstance(cached, int) else None,
            timings=_server_timings(self._timings),
        )


def _logprobs(choice: dict[str, Any]) -> tuple[TokenProb, ...]:
    """`choice.logprobs.content`: each token, its log probability and the top alternatives.
    Whatever does not have that shape is left out (a server may send null or partial data)."""
    found = choice.get("logprobs")
    content = found.get("content") if isinstance(found, dict) else None
    if not isinstance(content, list):
        return ()
    tokens = []
    for entry in content:
        if not _scored(entry):
            continue
        top = [Alternative(token=t["token"], logprob=t["logprob"]) for t in _alternatives(entry)]
        tokens.append(TokenProb(token=entry["token"], logprob=entry["logprob"], top=top))
    return tuple(tokens)


def _scored(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("token"), str)
        and isinstance(entry.get("logprob"), int | float)
        and not isinstance(entry.get("logprob"), bool)
    )


def _alternatives(entry: dict[str, Any]) -> list[dict[str, Any]]:
    top = entry.get("top_logprobs")
    return [t for t in top if _scored(t)] if isinstance(top, list) else []


def _server_timings(timings: dict[str, Any]) -> ServerTimings | None:
    def number(name: str) -> float | None:
        value = timings.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return round(float(value), 1) if math.isfinite(value) and value >= 0 else None

    found = ServerTimings(
        number("prompt_ms"), number("predicted_ms"), number("predicted_per_second")
    )
    return found if found != ServerTimings(None, None, None) else None
