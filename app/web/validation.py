"""Turn validation failures into messages a person can act on, named by field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from app.engine.presets import KNOB_BY_NAME, MAX_PRESETS, MAX_STOP_SEQUENCES

FIELD_MESSAGES = {
    "prompt": "Write a prompt to compare.",
    "samples": "Samples per preset must be a whole number between 1 and 5.",
    "presets": f"Use between 1 and {MAX_PRESETS} presets.",
    "name": "Keep the name under 80 characters.",
    "model": "Keep the model name under 200 characters.",
    "stop": f"Use at most {MAX_STOP_SEQUENCES} stop sequences, one per line.",
}


def message_for(loc: Sequence[str | int], error_type: str = "") -> str:
    """The message for one failing field, whatever the library's wording was."""
    name = next((part for part in reversed(loc) if isinstance(part, str)), "")
    if name in KNOB_BY_NAME and name != "stop":
        knob = KNOB_BY_NAME[name]
        kind = "a whole number" if knob.kind == "int" else "a number"
        return f"{knob.label} must be {kind} {knob.range_text()}, or left empty (unset)."
    if name in ("prompt", "system") and error_type == "string_too_long":
        return f"The {name} is too long (200,000 characters at most)."
    if name in FIELD_MESSAGES:
        return FIELD_MESSAGES[name]
    if error_type == "extra_forbidden":
        return f"Unknown field {name!r}: the fields are documented at /docs."
    if error_type == "missing":
        return f"{name} is required."
    return f"{name or 'The request'} is not valid."


def field_path(loc: Sequence[str | int]) -> str:
    """`presets[0].temperature` from ("body", "presets", 0, "temperature")."""
    path = ""
    for part in loc:
        if part == "body" and not path:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def explain(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI error records with a field path and a friendly message each."""
    return [
        {
            "field": field_path(error["loc"]),
            "loc": list(error["loc"]),
            "msg": message_for(error["loc"], error.get("type", "")),
            "type": error.get("type", ""),
        }
        for error in errors
    ]


def by_field(error: ValidationError) -> dict[str, str]:
    """First message per field path, for showing next to form fields."""
    messages: dict[str, str] = {}
    for item in explain(error.errors()):
        messages.setdefault(item["field"], item["msg"])
    return messages
