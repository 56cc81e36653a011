"""The playground form: read what was typed, keep it as typed, and validate it.

Values stay strings until validation so a mistyped field is shown back exactly as the
person left it, with the message beside it; nothing they typed is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.engine.knobs import DEFAULT_SAMPLES, KNOBS, MAX_PRESETS, knob_text
from app.engine.presets import CompareRequest, Preset
from app.web.validation import by_field, message_for

PRESET_FIELDS = ("name", "endpoint", "model", *(k.name for k in KNOBS))
# Only shown when custom endpoints are on; never put in links or saved runs.
ENDPOINT_FIELDS = ("base_url", "api_key")
# Any number of digits: a column is counted however far its index is, never silently dropped.
_FIELD = re.compile(r"^p-(\d+)-([a-z_]+)$")
_SAMPLES = str(DEFAULT_SAMPLES)  # form fields stay strings until validation


@dataclass
class PlaygroundForm:
    system: str = ""
    prompt: str = ""
    samples: str = _SAMPLES
    columns: list[dict[str, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_presets(
        cls, presets: list[Preset], system: str = "", prompt: str = "", samples: str = _SAMPLES
    ) -> PlaygroundForm:
        return cls(system, prompt, samples, columns=[column_values(p) for p in presets])


def column_values(preset: Preset) -> dict[str, str]:
    """A preset as the strings its form fields show; unset knobs are empty fields."""
    values = {name: "" for name in PRESET_FIELDS}
    for name in PRESET_FIELDS:
        value = getattr(preset, name)
        if value is not None:
            values[name] = "\n".join(value) if name == "stop" else knob_text(value)
    return values


def too_many_presets(sent: int) -> str:
    """The message at the top of a form that sent more columns than Knobs compares."""
    return (
        f"The form sent {sent:,} presets; Knobs compares at most {MAX_PRESETS} at once. "
        f"The first {MAX_PRESETS} are kept below: press Run to compare them."
    )


def _numeric_order(index: str) -> tuple[int, str]:
    # Compared as text, not int(): int() itself refuses a 5,000-digit index.
    return len(index), index


def read_form(form: Any) -> PlaygroundForm:
    """Collect the fields of a submitted playground form (a Starlette FormData or dict).

    More than MAX_PRESETS columns keeps the first ones and sets `errors["presets"]`, shown at
    the top of the form: the comparison is refused, as the API refuses it, not run short.
    """
    columns: dict[str, dict[str, str]] = {}
    for key in form:
        match = _FIELD.match(key)
        if match and match.group(2) in PRESET_FIELDS + ENDPOINT_FIELDS:
            index = match.group(1).lstrip("0") or "0"  # `p-01-` is `p-1-`, as int() read it
            columns.setdefault(index, {n: "" for n in PRESET_FIELDS})
            columns[index][match.group(2)] = str(form.get(key) or "")
    read = PlaygroundForm(
        system=str(form.get("system") or ""),
        prompt=str(form.get("prompt") or ""),
        samples=str(form.get("samples") or _SAMPLES),
        columns=[columns[i] for i in sorted(columns, key=_numeric_order)][:MAX_PRESETS],
    )
    if len(columns) > MAX_PRESETS:
        read.errors["presets"] = too_many_presets(len(columns))
    return read


def _number(raw: str, kind: str) -> float | int | str | None:
    raw = raw.strip()
    if raw == "":
        return None
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        return raw  # left for validation to refuse, with the field's own message


def _boolean(raw: str) -> bool | str | None:
    raw = raw.strip()
    return {"": None, "true": True, "false": False}.get(raw, raw)  # else refused, at the field


def to_request(form: PlaygroundForm) -> CompareRequest | None:
    """Validate the form. On failure, fills form.errors keyed by form field name."""
    presets = []
    for values in form.columns:
        preset: dict[str, Any] = {n: values.get(n) for n in ("name", "endpoint", "model")}
        preset.update({name: values.get(name) or None for name in ENDPOINT_FIELDS})
        for knob in KNOBS:
            raw = values.get(knob.name, "")
            if knob.kind == "stop":
                preset["stop"] = [line for line in raw.splitlines() if line] or None
            elif knob.kind == "choice":
                preset[knob.name] = raw.strip() or None
            elif knob.kind == "bool":
                preset[knob.name] = _boolean(raw)
            else:
                preset[knob.name] = _number(raw, knob.kind)
        presets.append(preset)
    data = {
        "system": form.system,
        "prompt": form.prompt,
        "samples": _number(form.samples, "int"),
        "presets": presets,
    }
    try:
        return CompareRequest.model_validate(data)
    except ValidationError as error:
        form.errors = {form_name(path): msg for path, msg in by_field(error).items()}
        if not form.columns:
            form.errors["presets"] = message_for(("presets",))
        return None


def form_name(path: str) -> str:
    """`presets[2].top_p` -> `p-2-top_p`, the name of the form field it came from."""
    match = re.match(r"^presets\[(\d+)\]\.(\w+)", path)
    return f"p-{match.group(1)}-{match.group(2)}" if match else path.split("[")[0]
