"""An endpoint's failures in plain terms: whether and when to retry, what to tell the person,
and the key scrubbed out of it all.

Plain functions of status codes, headers and text. upstream.py (the one module that imports
openai) sorts the SDK's exceptions into these terms and calls them.
"""

from __future__ import annotations

import email.utils
import random
import re
from datetime import UTC, datetime

from app.settings import Settings

RETRY_BASE_SECONDS = 0.5
# Bearer-style secrets as OpenAI-compatible services print them: sk-…, sk-proj-…, masked or not.
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_*\-]{6,}")


class UpstreamError(Exception):
    """A request failed; str(error) is a message for the person at the page."""


def retry_delay(
    settings: Settings, attempt: int, status: int | None = None, retry_after: str | None = None
) -> float | None:
    """Seconds to wait before retrying a retryable failure (an HTTP `status`, or a connection
    failure when None), or None to give up.

    Rate limits, server errors and connection failures are retried with exponential backoff
    and jitter; a Retry-After header is honoured up to a bound."""
    if attempt >= settings.upstream_retries:
        return None
    if status is not None and status != 429 and status < 500:
        return None
    asked = retry_after_seconds(retry_after)
    if asked is not None:
        return min(asked, settings.retry_after_max)
    backoff = RETRY_BASE_SECONDS * 2**attempt
    return min(backoff * random.uniform(0.5, 1.5), settings.retry_after_max)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def status_message(status: int, detail: str, what: str) -> str:
    """What an HTTP error from the endpoint means for the person, and what to do about it."""
    detail = f": {detail}" if detail else ""
    if status == 401:
        return f"The endpoint refused the API key (401){detail}. Check OPENAI_API_KEY."
    if status == 403:
        return f"The endpoint denied access (403){detail}."
    if status == 404:
        return f"Not found (404) for {what}{detail}. Check the model name and base URL."
    if status == 429:
        return f"Rate limited by the endpoint (429){detail}. Wait a moment and run again."
    if status >= 500:
        return f"The endpoint failed ({status}){detail}. Try again, or check the server."
    return f"The endpoint rejected the request ({status}){detail}."


def error_text(body: object) -> str:
    """The human part of an OpenAI-style error body, trimmed for display."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            body = inner.get("message") or inner.get("detail") or ""
        else:
            body = inner
    text = body if isinstance(body, str) else ("" if body is None else str(body))
    return text.strip()[:300]


def redact(text: str, key: str | None) -> str:
    """Scrub the key, and anything shaped like one: endpoints echo keys in errors,
    sometimes masked ("sk-proj-****abcd"), and the page must show neither."""
    if key:
        text = text.replace(key, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)
