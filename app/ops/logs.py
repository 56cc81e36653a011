"""Logging: one line per event, JSON when asked (KNOBS_LOG_FORMAT=json), never a secret.

Messages never carry prompts, answers or keys: only counts, names, timings and outcomes.
Upstream error text is redacted before it gets here (app/engine/upstream.py).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from app.settings import Settings


class JsonFormatter(logging.Formatter):
    """A JSON object per record: time, level, logger, message, and its `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines for a terminal, with the same fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", {})
        return line + "".join(f" {k}={v}" for k, v in fields.items())


def configure(settings: Settings) -> None:
    """Send the `knobs` loggers to stderr in the configured format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("knobs")
    logger.handlers = [handler]
    logger.setLevel(settings.log_level.upper())
    logger.propagate = True  # tests' caplog still sees records
