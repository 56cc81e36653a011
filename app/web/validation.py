"""Turn validation failures into messages a person can act on, named by field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from app.engine.knobs import KNOB_BY_NAME, MAX_CHARS, MAX_PRESETS, MAX_STOP_SEQUENCES, SAMPLES
from app.engine.sweeps.definition import MESSAGE

FIELD_MESSAGES = {
    "prompt": "Write a prompt to compare.",
    "presets": f"Use between 1 and {MAX_PRESETS} presets.",
    "stop": f"Use at most {MAX_STOP_SEQUENCES} stop sequences, one per line.",
}
# How a message names each field that has a length limit (MAX_CHARS).
TEXT_NAMES = {
    "name": "preset name",
    "endpoint": "endpoint name",
    "model": "model name",
    "base_url": "endpoint URL",
    "api_key": "API key",
    "prompt": "prompt",
    "system": "system message",
}


def message_for(loc: Sequence[str | int], error_type: str = "") -> str:
    """The message for one failing field, whatever the library's wording was."""
    name = next((part for part in reversed(loc) if isinstance(part, str)), "")
    if name == SAMPLES.name:
        return f"{SAMPLES.label} must be {SAMPLES.describe()}."
    if name in KNOB_BY_NAME and name != "stop":
        knob = KNOB_BY_NAME[name]
        if knob.needs and error_type == "value_error":  # the range is fine; its partner is not
            return f"{knob.label} needs {knob.needs} set to true, or leave it empty (unset)."
        return f"{knob.label} must be {knob.describe()}, or left empty (unset)."
    if name in MAX_CHARS and error_type == "string_too_long":
        what = TEXT_NAMES.get(name, name)
        return f"The {what} is too long ({MAX_CHARS[name]:,} characters at most)."
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
            # A message written for a person where the check was made is shown as it is.
            "msg": error["msg"]
            if error.get("type") == MESSAGE
            else message_for(error["loc"], error.get("type", "")),
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
