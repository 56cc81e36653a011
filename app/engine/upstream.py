"""The one module that talks to an OpenAI-compatible endpoint (through the openai SDK).

Everything else sees plain data: a preset goes in, text chunks and a `Finish` come out,
and every failure becomes an `UpstreamError` whose message a person can act on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai

from app.engine.capabilities import (
    MAX_ADJUSTMENTS,
    Adjustment,
    Capabilities,
    CapabilityStore,
    Memory,
    adjust,
    lesson,
    refusal,
    stated,
)
from app.engine.dialects import Chunk, Finish, StreamReader
from app.engine.models import NoChatModel, first_chat_model
from app.engine.presets import Preset, request_params
from app.engine.prices import ModelPrice
from app.engine.slots import EndpointSlots
from app.engine.upstream_errors import (
    UpstreamError,
    error_text,
    redact,
    retry_delay,
    status_message,
)
from app.network.connections import keep_sockets
from app.network.egress import EgressRefused, check_url
from app.network.http_client import guarded_client
from app.settings import Settings

# Placeholder sent when an endpoint needs no key (the embedded model, local servers):
# the SDK insists on one, and servers that do not check keys ignore it.
NO_KEY = "not-needed"
MODELS_CACHE_SECONDS = 60.0
# Headers the SDK adds to every request about itself and this machine: its version, the OS,
# the architecture, the Python version, the async library, the retry count and the read
# timeout. No endpoint needs them (a preset's own endpoint is someone else's server), and
# each cost CPU on every request: merged, checked and written, one after another. The first
# seven are set for the client; the last two the SDK adds per request unless told not to.
SDK_HEADERS: dict[str, Any] = {
    f"X-Stainless-{name}": openai.Omit()
    for name in ("Lang", "Package-Version", "OS", "Arch", "Runtime", "Runtime-Version", "Async")
}
PER_REQUEST_SDK_HEADERS: dict[str, Any] = {
    f"X-Stainless-{name}": openai.Omit() for name in ("Retry-Count", "Read-Timeout")
}
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
    # What the admin says models refuse, by model name or glob, in the order written.
    capabilities: tuple[tuple[str, Capabilities], ...] = ()
    # What the admin says models cost, by model name or glob (app/engine/prices.py).
    prices: tuple[tuple[str, ModelPrice], ...] = ()
    # Requests it answers at once, where known (TOML `parallel`, the embedded server's 1);
    # None: as the server reports (llama.cpp's /props), else KNOBS_CONCURRENCY_PER_ENDPOINT.
    parallel: int | None = None


@dataclass
class Sending:
    """What one request became: its JSON body exactly as last sent, and every change made
    to it (filled in as it goes, so a failed request still tells)."""

    sent: str | None = None
    adjustments: list[Adjustment] = field(default_factory=list)


class Upstream:
    """A client for one endpoint, with its slots (how many requests at once) and model list."""

    def __init__(
        self,
        endpoint: Endpoint,
        settings: Settings,
        http: httpx2.AsyncClient | None = None,
        store: CapabilityStore | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.memory = Memory(endpoint.base_url, store)
        self.settings = settings
        self.slots = EndpointSlots(endpoint.parallel, settings.concurrency_per_endpoint)
        timeout = _timeout(settings)
        limits = _limits(settings, endpoint.parallel)
        self._http = keep_sockets(http or httpx2.AsyncClient(timeout=timeout, limits=limits))
        self.client = openai.AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key or NO_KEY,
            max_retries=0,  # one retry policy only, ours, not the SDK's on top of it
            timeout=timeout,
            http_client=self._http,
            default_headers=SDK_HEADERS,
        )
        self._models: list[str] = []
        self._models_at = 0.0
        self._listing = asyncio.Lock()

    @classmethod
    def custom(cls, base_url: str, api_key: str | None, settings: Settings) -> Upstream:
        """A client for a preset's own endpoint: the user's key, never the server's, and a
        connection that refuses internal addresses however they are spelled or resolved."""
        policy = settings.egress_policy
        url = check_url(base_url, policy)  # EgressRefused: the caller refuses the preset
        http = guarded_client(
            policy, _timeout(settings), _limits(settings), api_key=api_key or NO_KEY
        )
        # Its slots are not asked for: a slow answer would hold up every comparison on it.
        custom = Endpoint("custom", url, api_key, parallel=settings.concurrency_per_endpoint)
        return cls(custom, settings, http=http)

    async def aclose(self) -> None:
        await self.client.close()

    async def learn_slots(self) -> None:
        """Size the line to the slots the server reports, once, unless they were stated."""
        await self.slots.learn(self._http, self.endpoint.base_url, self.endpoint.api_key)

    async def models(self) -> list[str]:
        """Model ids from the endpoint's /v1/models, in its order, cached for a minute."""
        if self.endpoint.models:
            return list(self.endpoint.models)
        # One request lists for everyone who asks at once: a comparison's samples all want
        # the default model at the same moment.
        async with self._listing:
            if self._models_at and time.monotonic() - self._models_at < MODELS_CACHE_SECONDS:
                return self._models
            try:
                page = await self.client.models.list()
            except Exception as error:  # noqa: BLE001 - every failure becomes one message
                raise UpstreamError(self._explain(error, "listing models")) from error
            # The endpoint's order, not sorted: servers list the model they serve (vLLM) or
            # the one pulled last (Ollama) first, and the default model is the first that chats.
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
        self, preset: Preset, messages: list[dict[str, str]], sending: Sending | None = None
    ) -> AsyncIterator[list[Chunk] | Finish]:
        """Stream one chat completion: the chunks of each read as they arrive, then one
        Finish. `sending` receives the body as sent and what was changed so that this model
        accepts it."""
        sending = Sending() if sending is None else sending
        model = preset.model or await self.default_model()
        body = await self._body(model, messages, preset, sending)
        refused: set[str] = set()
        failures = 0
        try:
            # One deadline over every attempt and the whole stream: it also ends an endpoint
            # that drips a byte every few seconds and so never trips a read timeout.
            async with asyncio.timeout(self.settings.request_timeout):
                while True:
                    streamed = False
                    try:
                        async for item in self._stream(body, sending):
                            streamed = True
                            yield item
                        return
                    except Exception as error:
                        if isinstance(error, openai.APIStatusError):
                            sending.sent = error.response.request.content.decode()
                        if await self._adapt(error, model, body, sending, refused):
                            continue
                        # Once text has arrived a retry would show a different answer as
                        # this one; only failures before the first chunk are retried.
                        delay = None if streamed else self._retry_delay(error, failures)
                        if delay is None:
                            raise
                        failures += 1
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

    async def _body(
        self, model: str, messages: list[dict[str, str]], preset: Preset, sending: Sending
    ) -> dict[str, Any]:
        """The request body, already without what this model is known to refuse."""
        params, extra = request_params(preset)
        body = {"model": model, "messages": messages, "stream": True}
        body |= {"stream_options": {"include_usage": True}, **params, **extra}
        configured = stated(self.endpoint.capabilities, model)
        sending.adjustments += adjust(body, configured, model, "configured")
        learnt = await self.memory.recall(model)
        sending.adjustments += adjust(body, learnt, model, "remembered")
        return body

    async def _adapt(
        self, error: Exception, model: str, body: dict[str, Any], sending: Sending, done: set[str]
    ) -> bool:
        """After a 400 that names a parameter: change `body` so the model takes it, and
        remember that. False when there is nothing (more) to change; each parameter once."""
        if not isinstance(error, openai.BadRequestError) or len(done) >= MAX_ADJUSTMENTS:
            return False
        refused = refusal(error.body, body)
        if refused is None or refused.param in done:
            return False
        done.add(refused.param)
        learnt = lesson(refused)
        changes = adjust(body, learnt, model, "refused")
        if not changes:
            return False
        sending.adjustments += changes
        log.info("%s refused %s; sending again as it asks", model, refused.param)
        if refused.lasting:
            await self.memory.learn(model, learnt)
        return True

    async def _stream(
        self, body: dict[str, Any], sending: Sending
    ) -> AsyncIterator[list[Chunk] | Finish]:
        # The chunks of a read go on together: a fast endpoint sends dozens per read, and
        # passing each through every generator on its way cost more than parsing it.
        # The raw bytes, not the SDK's typed chunks: parsing every chunk into models costs
        # more than the request itself once two dozen streams run at once.
        response = await self.post_chat(body)
        reader = StreamReader()
        try:
            # The bytes that went out, not a rebuilt copy: "exactly what was sent".
            sending.sent = response.request.content.decode()
            async for data in response.aiter_bytes():
                if chunks := reader.feed_bytes(data):
                    yield chunks
            if chunks := reader.feed_bytes(b"\n"):  # a last line without its line break
                yield chunks
        finally:
            await response.aclose()
        yield reader.finish()

    async def post_chat(self, body: dict[str, Any]) -> httpx2.Response:
        """The chat request as it goes out, its response not read yet (streamed)."""
        # The body goes as it is, through the SDK's plain POST (its way to any endpoint):
        # converting typed parameters, as `chat.completions.create` does for every one of
        # its ~40 arguments, cost a sixth of Knobs' CPU per request, and the body is already
        # validated. Status errors are raised as the SDK raises them for `create`.
        return await self.client.post(
            "/chat/completions",
            cast_to=httpx2.Response,
            body=body,
            options={"headers": PER_REQUEST_SDK_HEADERS},
            stream=True,
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


def _limits(settings: Settings, parallel: int | None = None) -> httpx2.Limits:
    n = max(settings.concurrency_per_endpoint, parallel or 0)
    return httpx2.Limits(max_connections=n, max_keepalive_connections=n)
