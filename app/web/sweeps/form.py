"""The sweep form: read what was typed, keep it as typed, validate it, and its link.

The base preset's fields are the playground's first column (`p-0-temperature`, …), read and
checked by app/web/forms.py, so they keep their messages. Each varied knob is a row: `v-0-knob`
and either `v-0-values` (a list) or `v-0-from`, `v-0-to`, `v-0-step` (a range).

The link (`/sweep?…`) is the playground's link format (app/web/sharelink.py) for the prompt
and the base preset, plus one `vary=knob:v1,v2,…` per varied knob; it fills the form and runs
nothing. A damaged one restores what it can and says what it could not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import ValidationError

from app.engine.knobs import KNOB_BY_NAME, MAX_CHARS, MAX_SWEEP_KNOBS, knob_text
from app.engine.presets import Preset
from app.engine.sweeps.definition import (
    DEFAULT_SWEEP_SAMPLES,
    SWEEPABLE,
    BuiltinSweep,
    SweepComparison,
    SweepRequest,
    Value,
    values_in_range,
)
from app.web import sharelink
from app.web.forms import PlaygroundForm, column_values, read_form, to_request
from app.web.validation import by_field

VARY_FIELDS = ("knob", "values", "from", "to", "step")
_SPLIT = re.compile(r"[\s,;]+")
LINK_VERSION = "1"


def empty_vary() -> dict[str, str]:
    return dict.fromkeys(VARY_FIELDS, "")


@dataclass
class SweepForm:
    system: str = ""
    prompt: str = ""
    samples: str = str(DEFAULT_SWEEP_SAMPLES)
    base: dict[str, str] = field(default_factory=lambda: column_values(Preset()))
    vary: list[dict[str, str]] = field(
        default_factory=lambda: [empty_vary() for _ in range(MAX_SWEEP_KNOBS)]
    )
    errors: dict[str, str] = field(default_factory=dict)

    def use(self, builtin: BuiltinSweep) -> None:
        """Vary what a built-in sweep varies; the prompt and base preset stay."""
        self.vary = [empty_vary() for _ in range(MAX_SWEEP_KNOBS)]
        self.vary[0].update(knob=builtin.knob, values=", ".join(map(knob_text, builtin.values)))

    def playground(self) -> PlaygroundForm:
        """The base preset as the playground's one column, for its reading and messages."""
        return PlaygroundForm(self.system, self.prompt, self.samples, columns=[self.base])


def read_sweep_form(data: Any) -> SweepForm:
    """Collect the fields of a submitted sweep form (a Starlette FormData or a dict)."""
    columns = read_form(data).columns  # the base preset is the playground's column 0
    form = SweepForm(
        system=str(data.get("system") or ""),
        prompt=str(data.get("prompt") or ""),
        samples=str(data.get("samples") or DEFAULT_SWEEP_SAMPLES),
    )
    if columns:
        form.base = columns[0]
    for i, row in enumerate(form.vary):
        for name in VARY_FIELDS:
            row[name] = str(data.get(f"v-{i}-{name}") or "").strip()
    return form


def _values(row: dict[str, str], i: int, errors: dict[str, str]) -> list[Value] | None:
    """A row's values: its list, else its range; None (with a message) if neither reads."""
    knob = KNOB_BY_NAME[row["knob"]]
    if row["values"]:
        return [v for v in _SPLIT.split(row["values"]) if v]  # checked by SweepRequest
    if not (row["from"] and row["to"]):
        errors[f"v-{i}-values"] = (
            f"List the values of {knob.name}, or give a range: from, to and step."
        )
        return None
    try:
        return values_in_range(knob, row["from"], row["to"], row["step"] or "1")
    except ValueError as error:
        errors[f"v-{i}-range"] = f"{error}."
        return None


def to_sweep(form: SweepForm) -> SweepComparison | None:
    """Validate the form; on failure fill form.errors keyed by form field name."""
    errors: dict[str, str] = {}
    probe = form.playground()
    probe.prompt = "-"  # the prompt is the sweep's to check, below
    compare = to_request(probe)
    errors.update({k: v for k, v in probe.errors.items() if k.startswith("p-0-")})
    vary: list[tuple[int, str, list[Value]]] = []  # (form row, knob, values)
    for i, row in enumerate(form.vary):
        if not row["knob"]:
            if row["values"] or row["from"] or row["to"]:
                errors[f"v-{i}-knob"] = "Choose the knob these values are for, or clear them."
            continue
        if row["knob"] not in KNOB_BY_NAME or KNOB_BY_NAME[row["knob"]] not in SWEEPABLE:
            errors[f"v-{i}-knob"] = "Choose a knob to vary."
            continue
        values = _values(row, i, errors)
        if values is not None:
            vary.append((i, row["knob"], values))
    if not vary and not any(k.startswith("v-") for k in errors):
        errors["v-0-knob"] = "Choose a knob to vary."
    samples: object = int(form.samples) if form.samples.isdigit() else form.samples
    data = {
        "system": form.system,
        "prompt": form.prompt,
        "samples": samples,
        "base": compare.presets[0] if compare else Preset(),
        "vary": [{"knob": knob, "values": values} for _, knob, values in vary],
    }
    try:
        sweep = SweepRequest.model_validate(data)
    except ValidationError as error:
        for path, message in by_field(error).items():
            errors.setdefault(form_name(path, [row for row, _, _ in vary]), message)
        sweep = None
    form.errors = errors
    return sweep.comparison() if sweep is not None and not errors else None


def form_name(path: str, rows: list[int]) -> str:
    """`vary[1].values` -> `v-1-values`, `base.top_p` -> `p-0-top_p`: the field it came from."""
    if match := re.match(r"^vary\[(\d+)\]\.(\w+)", path):
        index = int(match.group(1))
        return f"v-{rows[index] if index < len(rows) else index}-{match.group(2)}"
    if match := re.match(r"^base\.(\w+)", path):
        return f"p-0-{match.group(1)}"
    return path.split("[")[0]


def encode(form: SweepForm) -> str:
    """The query of a link that restores this form (nothing runs until Run is pressed)."""
    base = sharelink.encode_form(PlaygroundForm(form.system, form.prompt, "1", [form.base]))
    pairs = [(k, v) for k, v in parse_qsl(base) if k not in ("samples", "v")]
    pairs.append(("samples", form.samples))
    for row in form.vary:
        if row["knob"]:
            values = row["values"] or f"{row['from']}..{row['to']}..{row['step']}"
            pairs.append(("vary", f"{row['knob']}:{values}"))
    pairs.append(("v", LINK_VERSION))
    return urlencode(pairs)


def decode(query: str, max_chars: int = MAX_CHARS["prompt"]) -> tuple[SweepForm, list[str]]:
    """The form a link carries, and what could not be read, in words; a prompt or system
    message longer than `max_chars` (KNOBS_MAX_PROMPT_CHARS) is cut, and that said."""
    problems: list[str] = []
    pairs = parse_qsl(query, keep_blank_values=True)
    base = [(k, v) for k, v in pairs if k in ("prompt", "system", "p")]
    decoded = sharelink.decode(urlencode([*base, ("v", sharelink.VERSION)]), max_chars)
    problems += decoded.problems
    form = SweepForm(system=decoded.system or "", prompt=decoded.prompt)
    if decoded.presets:
        form.base = column_values(decoded.presets[0])
    rows = 0
    for key, value in pairs:
        if key == "samples":
            form.samples = value[:3]
        elif key == "vary" and rows < MAX_SWEEP_KNOBS:
            knob, _, values = value.partition(":")
            if knob not in {k.name for k in SWEEPABLE}:
                problems.append(f"vary: {sharelink.show(knob)} is not a knob that can be swept")
                continue
            row = form.vary[rows]
            row["knob"] = knob
            parts = values.split("..")
            if len(parts) == 3:
                row["from"], row["to"], row["step"] = parts
            else:
                row["values"] = values[:2000]
            rows += 1
        elif key not in ("prompt", "system", "p", "v", "vary"):
            problems.append(f"unknown part {sharelink.show(key)} was ignored")
    return form, problems
