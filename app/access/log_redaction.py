"""Keep the access token out of uvicorn's access log: the sign-in link carries it in its query.

A key is decoded as Starlette's query parser decodes it before it is compared, since
`%74oken=` and `tok%65n=` sign in just as `token=` does. Only the value is hidden, as `***`.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus


def is_secret(key: str) -> bool:
    """Whether a query key, decoded, names a token: `token`, and also `TOKEN` or `access_token`.

    Only `token` signs in (Starlette's keys are case-sensitive), but the others are hidden too:
    a person who typed the key wrong may well have typed the token right.
    """
    return unquote_plus(key).lower().endswith("token")


def redact_query(path: str) -> str:
    """`path` with the value of every query key that names a token replaced by `***`."""
    base, mark, query = path.partition("?")
    if not mark:
        return path
    parts = []
    # Split as Starlette's parser (urllib's parse_qsl) splits: on `&` only, then at the first `=`.
    for part in query.split("&"):
        key, equals, value = part.partition("=")
        if equals and value and is_secret(key):
            value = "***"
        parts.append(key + equals + value)
    return f"{base}?{'&'.join(parts)}"


class RedactTokens(logging.Filter):
    """Hide the access token in the URLs uvicorn's access log writes.

    uvicorn's access formatter reads the record's args by position (client address, method,
    path with query, HTTP version, status), so each text is redacted in place.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    """Install RedactTokens on uvicorn's access log, once."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
