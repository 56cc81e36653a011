"""What a model accepts: parameters it refuses, renames it wants, and values it only takes.

Learnt the way that works with every server: a 400 whose error names a parameter (OpenAI's
`param` / `code`, or the common message shapes) says what to drop or rename, the request is
sent again without it, and the lesson is kept for that endpoint and model (`Memory`, which a
`CapabilityStore` can share across replicas). An admin can also state it in the endpoints
TOML. Nothing is changed silently: every change becomes an `Adjustment` with a message for
the person. Pure functions, but for `Memory`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from app.engine.knobs import KNOB_BY_NAME, knob_text

log = logging.getLogger("knobs.capabilities")
Reason = Literal["refused", "remembered", "configured"]
# Never dropped or renamed, whatever an error says: without them there is no request.
ESSENTIAL = frozenset({"model", "messages", "stream"})
# The most parameters one request drops or renames before its error is shown as it is.
MAX_ADJUSTMENTS = 8
# How stale another replica's lessons may be here: the store is read at most this often.
RECALL_SECONDS = 60.0
_UNSUPPORTED_PARAMETER = re.compile(
    r"Unsupported parameter: '([\w.]+)' is not supported with this model\."
    r"(?: Use '(\w+)' instead\.)?"
)
_UNSUPPORTED_VALUE = re.compile(
    r"Unsupported value: '([\w.]+)' does not support .* with this model\."
    r"(?: Only the default \(([^)]*)\) value is supported\.)?"
)
_UNRECOGNIZED = re.compile(r"Unrecognized request arguments? supplied: ([\w.]+)")
_CONSEQUENCE = {
    "stream_options": "usage is not reported, so token counts are estimated from the stream",
}
_RENAMED = {
    "max_tokens": "the same budget, which on a reasoning model covers its reasoning too",
}
_SUFFIX: dict[Reason, str] = {
    "refused": "",
    "remembered": " (remembered from an earlier refusal)",
    "configured": " (as the endpoints configuration says)",
}


class Capabilities(BaseModel):
    """What one model refuses. Stated per model in the endpoints TOML, or learnt."""

    model_config = ConfigDict(extra="forbid")

    refuses: list[str] = Field(default_factory=list, description="parameters never sent")
    renames: dict[str, str] = Field(
        default_factory=dict, description="parameter -> the name it is sent under"
    )
    only: dict[str, Any] = Field(
        default_factory=dict,
        description="parameter -> the one value accepted; any other value is not sent",
    )

    def merged(self, other: Capabilities) -> Capabilities:
        return Capabilities(
            refuses=sorted({*self.refuses, *other.refuses}),
            renames={**self.renames, **other.renames},
            only={**self.only, **other.only},
        )

    def __bool__(self) -> bool:
        return bool(self.refuses or self.renames or self.only)


class Adjustment(BaseModel):
    """One change to a column's request, and why, in words for the person at the page."""

    param: str = Field(description="the request parameter, e.g. temperature or max_tokens")
    action: Literal["dropped", "renamed"]
    to: str | None = Field(default=None, description="the new name, for a rename")
    value: Any = Field(default=None, description="the value the preset asked for")
    reason: Reason = Field(
        description="refused: the endpoint refused it in this run; remembered: it refused it "
        "earlier; configured: the endpoints configuration says the model refuses it"
    )
    message: str = Field(description="what changed and what it means for this column")


@dataclass(frozen=True)
class Refusal:
    """What a 400 said about one parameter: drop it, rename it, or send only `only`.
    `lasting` is False when only the value sent was refused and no accepted one was named
    (reasoning_effort "none" on a model that takes "low"): dropped this once, not remembered."""

    param: str
    to: str | None = None
    only: Any = None
    lasting: bool = True


class CapabilityStore(Protocol):
    """Where learnt capabilities are kept for every replica (app/storage/capability_table.py).
    Synchronous, like the run store; called from a worker thread."""

    def load(self, base_url: str, model: str) -> Capabilities | None: ...

    def learn(self, base_url: str, model: str, learnt: Capabilities) -> None: ...


def stated(configured: Sequence[tuple[str, Capabilities]], model: str) -> Capabilities:
    """What the endpoints TOML says about `model`; its keys may be globs such as `o3*`."""
    found = Capabilities()
    for pattern, capabilities in configured:
        if fnmatch.fnmatchcase(model, pattern):
            found = found.merged(capabilities)
    return found


def refusal(body: object, sent: dict[str, Any]) -> Refusal | None:
    """The parameter a 400's error body refuses, if it names one that was `sent`."""
    inner = body.get("error", body) if isinstance(body, dict) else body
    if not isinstance(inner, dict):
        return None
    message = str(inner.get("message") or "")
    code = inner.get("code")
    param = inner.get("param") if code in ("unsupported_parameter", "unsupported_value") else None
    to = only = None
    a_value = code == "unsupported_value"
    if match := _UNSUPPORTED_PARAMETER.search(message):
        param, to = param or match.group(1), match.group(2)
    elif match := _UNSUPPORTED_VALUE.search(message):
        param, a_value = param or match.group(1), True
        only = _json_value(match.group(2)) if match.group(2) else None
    elif match := _UNRECOGNIZED.search(message):
        param = param or match.group(1)
    if not isinstance(param, str):
        return None
    param = param.split(".")[0]  # "stream_options.include_usage" refuses stream_options
    if param in ESSENTIAL or param not in sent or (to is not None and to in sent):
        return None
    return Refusal(param, to, only, lasting=not a_value or only is not None)


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def lesson(refused: Refusal) -> Capabilities:
    """What to remember from one refusal."""
    if refused.to:
        return Capabilities(renames={refused.param: refused.to})
    if refused.only is not None:
        return Capabilities(only={refused.param: refused.only})
    return Capabilities(refuses=[refused.param])


def adjust(
    body: dict[str, Any], capabilities: Capabilities, model: str, reason: Reason
) -> list[Adjustment]:
    """Change `body` in place as `capabilities` require; what was changed, in words."""
    done = []
    for param, to in capabilities.renames.items():
        if param in body and to not in body and param not in ESSENTIAL:
            value = body.pop(param)
            body[to] = value
            meaning = _RENAMED.get(param, "the same value under the name this model wants")
            message = (
                f"{param}={_text(value)} not accepted by {model}: sent as {to}={_text(value)}, "
                f"{meaning}"
            )
            done.append(_adjustment(param, "renamed", to, value, reason, message))
    for param in body.keys() & ({*capabilities.refuses} | capabilities.only.keys()):
        only = capabilities.only.get(param)
        if param in ESSENTIAL or (param not in capabilities.refuses and body[param] == only):
            continue
        value = body.pop(param)
        message = _dropped(param, value, model)
        done.append(_adjustment(param, "dropped", None, value, reason, message))
    return sorted(done, key=lambda a: a.param)


def _dropped(param: str, value: Any, model: str) -> str:
    shown = f"{param}={_text(value)}" if param in KNOB_BY_NAME else param
    if param in _CONSEQUENCE:
        consequence = _CONSEQUENCE[param]
    elif param in KNOB_BY_NAME and KNOB_BY_NAME[param].kind in ("float", "int"):
        consequence = f"this column is not at {param} {_text(value)}"
    else:
        consequence = "the endpoint's default applies"
    return f"{shown} not accepted by {model}: sent without it — {consequence}"


def _adjustment(
    param: str,
    action: Literal["dropped", "renamed"],
    to: str | None,
    value: Any,
    reason: Reason,
    message: str,
) -> Adjustment:
    return Adjustment(
        param=param,
        action=action,
        to=to,
        value=value,
        reason=reason,
        message=message + _SUFFIX[reason],
    )


def _text(value: Any) -> str:
    if isinstance(value, float | int | str) and not isinstance(value, bool):
        return knob_text(value)
    return json.dumps(value)


def refused_knobs(adjustments: Sequence[Adjustment], knobs: Sequence[str]) -> list[str]:
    """The preset's own knobs that were not sent: the column does not run as named."""
    return sorted({a.param for a in adjustments if a.action == "dropped" and a.param in knobs})


class Memory:
    """What one endpoint's models were found to refuse: in memory, and in `store` (if any)
    for every replica, read again at most every RECALL_SECONDS per model. A store that fails
    is logged and done without: a lesson lost is only learnt again on the next refusal."""

    def __init__(self, base_url: str, store: CapabilityStore | None = None) -> None:
        self.base_url = base_url
        self.store = store
        self._known: dict[str, tuple[Capabilities, float]] = {}
        self._reading = asyncio.Lock()

    async def recall(self, model: str) -> Capabilities:
        known, read_at = self._known.get(model, (Capabilities(), -RECALL_SECONDS))
        if self.store is None or time.monotonic() - read_at < RECALL_SECONDS:
            return known
        # One read for every sample that asks at once: a comparison's samples all start
        # together, and the first of them reads for the rest.
        async with self._reading:
            known, read_at = self._known.get(model, (known, -RECALL_SECONDS))
            if time.monotonic() - read_at < RECALL_SECONDS:
                return known
            try:
                stored = await asyncio.to_thread(self.store.load, self.base_url, model)
            except Exception as error:  # noqa: BLE001 - a lost lesson is learnt again
                log.warning("capabilities of %s not read: %s", model, error)
                stored = None
            # Read or not, not again for a while: an outage must not cost a query per request.
            known = self._known.get(model, (known, 0.0))[0].merged(stored or Capabilities())
            self._known[model] = (known, time.monotonic())
            return known

    async def learn(self, model: str, learnt: Capabilities) -> None:
        known, read_at = self._known.get(model, (Capabilities(), -RECALL_SECONDS))
        self._known[model] = (known.merged(learnt), read_at)
        if self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.learn, self.base_url, model, learnt)
        except Exception as error:  # noqa: BLE001 - a lost lesson is learnt again
            log.warning("capabilities of %s not saved: %s", model, error)
