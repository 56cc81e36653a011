"""The one module that talks to an OpenAI-compatible endpoint (through the openai SDK).

Everything else sees plain data: a preset goes in, text chunks and a `Finish` come out,
and every failure becomes an `UpstreamError` whose message a person can act on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from app.engine.models import NoChatModel, first_chat_model
from app.engine.presets import Preset, request_params
from app.engine.upstream_errors import error_text, redact, retry_delay, status_message
from app.guard.egress import EgressRefused, check_url
from app.guard.egress_http import guarded_client
from app.settings import Settings

# Placeholder sent when an endpoint needs no key (the embedded model, local servers):
# the SDK insists on one, and servers that do not check keys ignore it.
NO_KEY = "not-needed"
MODELS_CACHE_SECONDS = 60.0
log = logging.getLogger("knobs.upstream")


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. The key is kept out of repr so it cannot leak into logs."""

    name: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    # The admin's list, if any; otherwise the endpoint's /v1/models is asked.
    models: tuple[str, ...] = ()
    # The admin's choice for presets that name no model; else the first chat model listed.
    default_model: str | None = None


@dataclass(frozen=True)
class Chunk:
    text: str


@dataclass(frozen=True)
class Finish:
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    system_fingerprint: str | None
    model: str | None


class UpstreamError(Exception):
    """A request failed; str(error) is a message for the person at the page."""


class Upstream:
    """A client for one endpoint, with its concurrency limit and model list."""

    def __init__(
        self, endpoint: Endpoint, settings: Settings, http: httpx2.AsyncClient | None = None
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.limit = asyncio.Semaphore(settings.concurrency_per_endpoint)
        timeout = _timeout(settings)
        self._http = http or httpx2.AsyncClient(timeout=timeout, limits=_limits(settings))
        self.client = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or NO_KEY,
            max_retries=0,  # one retry policy only, ours, not the SDK's on top of it
            timeout=timeout,
            http_client=self._http,
        )
        self._models: list[str] = []
        self._models_at = 0.0

    @classmethod
    def custom(cls, base_url: str, api_key: str | None, settings: Settings) -> Upstream:
        """A client for a preset's own endpoint: the user's key, never the server's, and a
        connection that refuses internal addresses however they are spelled or resolved."""
        policy = settings.egress_policy
        url = check_url(base_url, policy)  # EgressRefused: the caller refuses the preset
        http = guarded_client(
            policy, _timeout(settings), _limits(settings), api_key=api_key or NO_KEY
        )
        return cls(Endpoint("custom", url, api_key), settings, http=http)

    async def aclose(self) -> None:
        await self.client.close()

    async def models(self) -> list[str]:
        """Model ids from the endpoint's /v1/models, in its order, cached for a minute."""
        if self.endpoint.models:
            return list(self.endpoint.models)
        if self._models_at and time.monotonic() - self._models_at < MODELS_CACHE_SECONDS:
            return self._models
        try:
            page = await self.client.models.list()
        except Exception as error:  # noqa: BLE001 - every failure becomes one message
            raise UpstreamError(self._explain(error, "listing models")) from error
        # The endpoint's order, not sorted: servers list the model they serve (vLLM) or the
        # one pulled last (Ollama) first, and the default model is the first that can chat.
        self._models = [m.id for m in page.data]
        self._models_at = time.monotonic()
        return self._models

    async def default_model(self) -> str:
        """The model for a preset that names none: the admin's, else the first chat model."""
        if self.endpoint.default_model:
            return self.endpoint.default_model
        try:
            return first_chat_model(await self.models())
        except NoChatModel as error:
            raise UpstreamError(str(error)) from error

    async def stream_chat(
        self, preset: Preset, messages: list[dict[str, str]]
    ) -> AsyncIterator[Chunk | Finish]:
        """Stream one chat completion: text chunks as they arrive, then one Finish."""
        model = preset.model or await self.default_model()
        params, extra = request_params(preset)
        try:
            # One deadline over every attempt and the whole stream: it also ends an endpoint
            # that drips a byte every few seconds and so never trips a read timeout.
            async with asyncio.timeout(self.settings.request_timeout):
                for attempt in itertools.count():
                    streamed = False
                    try:
                        async for item in self._stream(model, messages, params, extra):
                            streamed = True
                            yield item
                        return
                    except Exception as error:
                        # Once text has arrived a retry would show a different answer as
                        # this one; only failures before the first chunk are retried.
                        delay = None if streamed else self._retry_delay(error, attempt)
                        if delay is None:
                            raise
                        # The error's text can echo the key, as its message does: redact.
                        reason = redact(str(error), self.endpoint.api_key)
                        log.info("retrying %s in %.2f s after %s", model, delay, reason)
                        await asyncio.sleep(delay)
        except UpstreamError as error:
            raise UpstreamError(redact(str(error), self.endpoint.api_key)) from error
        except TimeoutError as error:
            raise UpstreamError(
                f"No complete answer within {self.settings.request_timeout:g} s "
                "(KNOBS_REQUEST_TIMEOUT); the endpoint is slow or stalled."
            ) from error
        except Exception as error:  # noqa: BLE001 - every failure becomes one message
            raise UpstreamError(self._explain(error, f"model {model!r}")) from error

    async def _stream(
        self,
        model: str,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        extra: dict[str, Any],
    ) -> AsyncIterator[Chunk | Finish]:
        # The raw lines, not the SDK's typed chunks: parsing every chunk into models costs
        # more than the request itself once two dozen streams run at once.
        # Typed loosely: the SDK's overloads cannot see through **params.
        create: Any = self.client.chat.completions.with_streaming_response.create
        request = create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra or None,
            **params,
        )
        finish_reason = fingerprint = answered_model = None
        usage: dict[str, Any] = {}
        done = False
        async with request as response:
            async for line in response.iter_lines():
                # After [DONE], read on to the end of the body: a response left unread
                # closes its connection, and every request would pay a new handshake.
                if done or not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    continue
                try:
                    event = json.loads(data)
                except json.JSONDecodeError as error:
                    raise UpstreamError(
                        "The endpoint sent a malformed stream event; the answer is incomplete."
                    ) from error
                if not isinstance(event, dict):
                    continue
                if "error" in event:
                    raise UpstreamError(f"The endpoint reported an error: {error_text(event)}")
                fingerprint = event.get("system_fingerprint") or fingerprint
                answered_model = event.get("model") or answered_model
                usage = event.get("usage") or usage
                for choice in event.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield Chunk(delta["content"])
                    finish_reason = choice.get("finish_reason") or finish_reason
        if finish_reason is None:
            raise UpstreamError(
                "The stream ended without a finish reason; the answer may be incomplete."
            )
        yield Finish(
            finish_reason=finish_reason,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            system_fingerprint=fingerprint,
            model=answered_model,
        )

    def _retry_delay(self, error: Exception, attempt: int) -> float | None:
        """Seconds to wait before retrying after `error`, or None to give up."""
        if isinstance(error, openai.APIStatusError):
            retry_after = error.response.headers.get("retry-after")
            return retry_delay(self.settings, attempt, error.status_code, retry_after)
        if isinstance(error, openai.APIConnectionError | httpx2.TransportError):
            return retry_delay(self.settings, attempt)
        return None

    def _explain(self, error: Exception, what: str) -> str:
        """A message a person can act on, with the key (if any) scrubbed out."""
        where = self.endpoint.base_url
        if isinstance(error, EgressRefused):  # an internal address, found when connecting
            text = str(error)
        elif isinstance(error, openai.APITimeoutError):
            text = f"{where} did not answer in time ({what})."
        elif isinstance(error, openai.APIConnectionError):
            text = f"Could not reach {where} ({what}): is the server running and the URL right?"
        elif isinstance(error, openai.APIStatusError):
            text = status_message(error.status_code, error_text(error.body), what)
        elif isinstance(error, httpx2.TransportError):
            text = f"The connection to {where} broke off mid-answer ({type(error).__name__})."
        else:
            text = f"Request to {where} failed ({what}): {type(error).__name__}: {error}"
        return redact(text, self.endpoint.api_key)


def _timeout(settings: Settings) -> httpx2.Timeout:
    return httpx2.Timeout(settings.request_timeout, connect=settings.connect_timeout)


def _limits(settings: Settings) -> httpx2.Limits:
    n = settings.concurrency_per_endpoint
    return httpx2.Limits(max_connections=n, max_keepalive_connections=n)
