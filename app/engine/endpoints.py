"""The endpoints an admin configured: names, URLs, keys (server-side only) and model lists.

Besides OPENAI_BASE_URL, several named endpoints can be declared in TOML, in the file named
by KNOBS_ENDPOINTS_FILE or inline in KNOBS_ENDPOINTS::

    [endpoints.openai]
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"        # the key is read from this variable
    models = ["gpt-4o-mini", "gpt-4.1"]   # optional; else the endpoint's /v1/models
    default_model = "gpt-4.1"             # optional; for presets that name no model

    [endpoints.ollama]
    base_url = "http://127.0.0.1:11434/v1"
    parallel = 1                          # optional; requests it answers at once

Without `parallel`, Knobs asks the server (llama.cpp's /props reports its slots) and else
sends up to KNOBS_CONCURRENCY_PER_ENDPOINT at once. More than the server takes would wait in
its own queue, where that wait would count as time to first token (app/engine/slots.py).

Without default_model, a preset that names no model gets the endpoint's first chat model
(embeddings, speech, image and legacy completion models are passed over; see models.py).
KNOBS_DEFAULT_MODEL is default_model for OPENAI_BASE_URL's endpoint.

What a model refuses can be stated per model (or glob: `o*`, `gpt-5*`), so that it is never
sent; otherwise Knobs learns it from the endpoint's first refusal (app/engine/capabilities.py).
Either way each column says what was left out or renamed::

    [endpoints.openai.capabilities."o*"]
    refuses = ["top_p", "frequency_penalty", "presence_penalty", "stream_options"]
    renames = { max_tokens = "max_completion_tokens" }
    only = { temperature = 1 }            # any other temperature is not sent

What a model costs, in US dollars per million tokens, where the price table (genai-prices)
does not know it or the admin pays otherwise::

    [endpoints.openai.prices."gpt-4o-mini*"]
    input = 0.15
    output = 0.6

Every mistake stops start-up with a message naming the endpoint and the field.
"""

from __future__ import annotations

import asyncio
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from app.engine.capabilities import Capabilities, CapabilityStore
from app.engine.models import cannot_chat, chat_models
from app.engine.presets import Preset
from app.engine.prices import ModelPrice
from app.engine.upstream import Endpoint, Upstream, UpstreamError
from app.ops.metrics import Metrics
from app.settings import MAX_PARALLEL, Settings

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_FIELDS = {
    "base_url",
    "api_key",
    "api_key_env",
    "models",
    "default_model",
    "capabilities",
    "prices",
    "parallel",
}
Stated = TypeVar("Stated", bound=BaseModel)
# The name of the endpoint that OPENAI_BASE_URL, or the embedded model, defines.
DEFAULT_NAME = "default"
EMBEDDED_NAME = "embedded"
# The page waits this long for model lists: a slow endpoint must not hold up the form.
MODELS_WAIT_SECONDS = 3.0


class EndpointConfigError(ValueError):
    """The endpoint configuration cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Listing:
    """One endpoint's models as the page and the API show them."""

    models: list[str]  # every id listed, in the endpoint's order
    error: str | None = None  # why they could not be listed, or why none can be the default
    default: str | None = None  # the model a preset that names none gets

    def shown(self, all_models: bool = False) -> list[str]:
        """The chat models, or with `all_models` every model listed."""
        return self.models if all_models else chat_models(self.models)


def parse(text: str, source: str, environ: Mapping[str, str] = os.environ) -> list[Endpoint]:
    """The endpoints declared in TOML `text`; `source` names where it came from."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise EndpointConfigError(f"{source} is not valid TOML: {error}") from error
    unknown = set(document) - {"endpoints"}
    if unknown:
        raise EndpointConfigError(f"{source}: unknown section {sorted(unknown)[0]!r}")
    tables = document.get("endpoints", {})
    if not isinstance(tables, dict) or not tables:
        raise EndpointConfigError(f"{source} declares no [endpoints.NAME] tables")
    return [_endpoint(name, table, source, environ) for name, table in tables.items()]


def _endpoint(name: str, table: object, source: str, environ: Mapping[str, str]) -> Endpoint:
    where = f"{source}, endpoint {name!r}"
    if not _NAME.match(name):
        raise EndpointConfigError(
            f"{where}: names are lower-case letters, digits, '-' and '_' (at most 40)"
        )
    if not isinstance(table, dict):
        raise EndpointConfigError(f"{where}: expected a table of settings")
    unknown = set(table) - _FIELDS
    if unknown:
        raise EndpointConfigError(
            f"{where}: unknown field {sorted(unknown)[0]!r} (known: {', '.join(sorted(_FIELDS))})"
        )
    base_url = table.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise EndpointConfigError(f"{where}: base_url must be an http:// or https:// URL")
    if "api_key" in table and "api_key_env" in table:
        raise EndpointConfigError(f"{where}: give api_key or api_key_env, not both")
    api_key = table.get("api_key")
    if "api_key_env" in table:
        variable = table["api_key_env"]
        if not isinstance(variable, str) or not environ.get(variable):
            raise EndpointConfigError(
                f"{where}: api_key_env names {variable!r}, which is not set in the environment"
            )
        api_key = environ[variable]
    if api_key is not None and not isinstance(api_key, str):
        raise EndpointConfigError(f"{where}: api_key must be a string")
    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise EndpointConfigError(f"{where}: models must be a list of model names")
    default = table.get("default_model")
    if default is not None and (not isinstance(default, str) or not default.strip()):
        raise EndpointConfigError(f"{where}: default_model must be a model name")
    if default and (problem := cannot_chat(default)):
        raise EndpointConfigError(f"{where}: default_model {problem}")
    capabilities = _per_model(
        table.get("capabilities", {}),
        where,
        "capabilities",
        Capabilities,
        "fields: refuses = [names], renames = {name = new name}, only = {name = value}",
    )
    prices = _per_model(
        table.get("prices", {}),
        where,
        "prices",
        ModelPrice,
        "fields: input, output and cached_input, US dollars per million tokens",
    )
    parallel = table.get("parallel")
    if parallel is not None and (
        not isinstance(parallel, int)
        or isinstance(parallel, bool)
        or not 1 <= parallel <= MAX_PARALLEL
    ):
        raise EndpointConfigError(
            f"{where}: parallel must be a whole number from 1 to {MAX_PARALLEL}: how many "
            "requests the endpoint answers at once"
        )
    return Endpoint(
        name,
        base_url.rstrip("/"),
        api_key or None,
        tuple(models),
        default,
        capabilities,
        prices,
        parallel=parallel,
    )


def _per_model(
    tables: object, where: str, what: str, record: type[Stated], fields: str
) -> tuple[tuple[str, Stated], ...]:
    """`WHAT."MODEL"` tables, one per model name (or glob such as `o3*`), each read as `record`."""
    if not isinstance(tables, dict):
        raise EndpointConfigError(f"{where}: {what} must be tables, one per model")
    stated = []
    for model, table in tables.items():
        try:
            stated.append((model, record.model_validate(table, strict=True)))
        except ValidationError as error:
            problem = error.errors()[0]
            field = ".".join(str(part) for part in problem["loc"]) or "the table"
            raise EndpointConfigError(
                f"{where}: {what} for {model!r}: {field}: {problem['msg']} ({fields})"
            ) from error
    return tuple(stated)


def configured(settings: Settings, environ: Mapping[str, str] = os.environ) -> list[Endpoint]:
    """Every endpoint the settings declare, OPENAI_BASE_URL's first (named "default").

    An empty list means none: the embedded model serves."""
    endpoints = []
    default = (settings.default_model or "").strip() or None
    if default and not settings.openai_base_url:
        raise EndpointConfigError(
            "KNOBS_DEFAULT_MODEL is the default model of OPENAI_BASE_URL, which is not set; "
            "for endpoints in KNOBS_ENDPOINTS or KNOBS_ENDPOINTS_FILE set default_model in "
            "their table"
        )
    if default and (problem := cannot_chat(default)):
        raise EndpointConfigError(f"KNOBS_DEFAULT_MODEL {problem}")
    if settings.openai_base_url:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        endpoints.append(Endpoint(DEFAULT_NAME, settings.openai_base_url, key, (), default))
    if settings.endpoints_file:
        path = Path(settings.endpoints_file)
        try:
            text = path.read_text()
        except OSError as error:
            raise EndpointConfigError(
                f"KNOBS_ENDPOINTS_FILE {path} cannot be read: {error.strerror}"
            ) from error
        endpoints += parse(text, str(path), environ)
    if settings.endpoints:
        endpoints += parse(settings.endpoints, "KNOBS_ENDPOINTS", environ)
    names = [e.name for e in endpoints]
    for name in names:
        if names.count(name) > 1:
            raise EndpointConfigError(f"endpoint {name!r} is declared twice")
    return endpoints


class Upstreams:
    """One client per configured endpoint, by name; the first one is the default."""

    def __init__(self, clients: Mapping[str, Upstream], metrics: Metrics | None = None) -> None:
        if not clients:
            raise ValueError("at least one endpoint is needed")
        self.by_name = dict(clients)
        self.metrics = metrics or Metrics()  # what the fan-out counts: the app's own
        self.default = next(iter(self.by_name.values()))

    @classmethod
    def of(cls, upstream: Upstream) -> Upstreams:
        return cls({upstream.endpoint.name: upstream})

    @classmethod
    def from_configs(
        cls,
        configs: list[Endpoint],
        settings: Settings,
        store: CapabilityStore | None = None,
        metrics: Metrics | None = None,
    ) -> Upstreams:
        """Clients for `configs`; what their models refuse is kept in `store`, if given."""
        return cls({e.name: Upstream(e, settings, store=store) for e in configs}, metrics)

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    async def list_models(self) -> dict[str, Listing]:
        """Every endpoint's models and default model, or why they could not be read, by
        endpoint name; all asked at once, none waited for longer than MODELS_WAIT_SECONDS."""
        listed = await asyncio.gather(*(_listing(u) for u in self.by_name.values()))
        return dict(zip(self.names, listed, strict=True))

    def for_preset(self, preset: Preset) -> Upstream:
        """The client for a preset's named endpoint (validated before any run)."""
        return self.by_name[preset.endpoint] if preset.endpoint else self.default

    async def aclose(self) -> None:
        for upstream in self.by_name.values():
            await upstream.aclose()


async def _listing(upstream: Upstream) -> Listing:
    models: list[str] = []
    try:
        models = await asyncio.wait_for(upstream.models(), MODELS_WAIT_SECONDS)
        # The list just read is cached: this asks the endpoint nothing more.
        return Listing(models, default=await upstream.default_model())
    except UpstreamError as error:
        return Listing(models, str(error), upstream.endpoint.default_model)
    except TimeoutError:
        late = f"{upstream.endpoint.base_url} did not list its models in time."
        return Listing(models, late, upstream.endpoint.default_model)
