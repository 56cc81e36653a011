"""The eval form: read what was typed (and uploaded), keep it as typed, and validate it.

Cases are pasted or uploaded in one of three forms (app/engine/evals/cases.py); the checks for
every case are rows of a kind and a value (`c-0-kind`, `c-0-value`); the presets are the
playground's columns (`p-0-temperature`, …), read and checked by app/web/forms.py, so they
keep their messages. Every problem is keyed by the field it belongs to; a problem in one case
is shown at the cases, naming the case and its line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.engine.evals.cases import CasesError, parse_cases
from app.engine.evals.checks import Check
from app.engine.evals.definition import DEFAULT_EVAL_SAMPLES, EvalRequest
from app.engine.evals.examples import Example
from app.engine.knobs import MAX_PRESETS
from app.engine.presets import Preset, builtin_presets
from app.web.forms import PlaygroundForm, column_values, read_form, to_request
from app.web.validation import by_field

CHECK_ROWS = 4  # rows for checks on the form without JavaScript; the API takes up to 20
FORMS = ("lines", "csv", "jsonl")
_CASE = re.compile(r"^cases\[(\d+)\]")
_CHECK = re.compile(r"^checks\[(\d+)\]")


def empty_check() -> dict[str, str]:
    return {"kind": "", "value": ""}


@dataclass
class EvalForm:
    name: str = ""
    system: str = ""
    template: str = ""
    cases: str = ""
    form: str = "lines"
    samples: str = str(DEFAULT_EVAL_SAMPLES)
    checks: list[dict[str, str]] = field(
        default_factory=lambda: [empty_check() for _ in range(CHECK_ROWS)]
    )
    columns: list[dict[str, str]] = field(
        default_factory=lambda: [column_values(p) for p in builtin_presets()[:2]]
    )
    errors: dict[str, str] = field(default_factory=dict)

    def use(self, example: Example) -> None:
        """Fill the cases, template and checks from a built-in example; presets stay."""
        self.cases, self.form = example.cases, example.form
        self.template, self.system = example.template, example.system
        self.checks = [empty_check() for _ in range(CHECK_ROWS)]
        for row, check in zip(self.checks, example.checks, strict=False):
            value = check.get("value")
            shown = json.dumps(value) if isinstance(value, dict) else str(value or "")
            row.update(kind=check["kind"], value=shown)
        self.errors = {}

    def edit_presets(self, verb: str, which: str) -> None:
        """+ Preset (a blank one, every knob unset) or Remove one; at least one stays."""
        if verb == "add" and len(self.columns) < MAX_PRESETS:
            self.columns.append(column_values(Preset(name=f"Preset {len(self.columns) + 1}")))
        elif verb == "remove" and which.isdigit() and int(which) < len(self.columns) > 1:
            self.columns.pop(int(which))

    def carry(self, system: str | None, prompt: str, presets: list[Preset]) -> None:
        """What the playground had: its presets, its system message, its prompt as the first
        case (or as the template, when it has {{variables}})."""
        self.columns = [column_values(p) for p in presets] or self.columns
        self.system = system or ""
        if "{{" in prompt:
            self.template = prompt
        elif prompt.strip():
            self.cases = " ".join(prompt.split())

    @classmethod
    def of(cls, eval: EvalRequest) -> EvalForm:
        """The form that runs `eval` again, its cases as JSONL (the one form that keeps all)."""
        lines = [
            case.model_dump_json(exclude_defaults=True, exclude_none=True) for case in eval.cases
        ]
        form = cls(
            name=eval.name or "",
            system=eval.system or "",
            template=eval.template or "",
            cases="\n".join(lines),
            form="jsonl",
            samples=str(eval.samples),
            columns=[column_values(p) for p in eval.presets],
        )
        for row, check in zip(form.checks, eval.checks, strict=False):
            value = check.value
            shown = json.dumps(value) if isinstance(value, dict) else str(value or "")
            row.update(kind=check.kind, value=shown)
        return form


def read_eval_form(data: Any, uploaded: str | None = None, filename: str = "") -> EvalForm:
    """Collect the fields of a submitted eval form; an uploaded file replaces the pasted
    cases, its form read from its name (.csv, .jsonl) when it has one."""
    form = EvalForm(
        name=str(data.get("name") or ""),
        system=str(data.get("system") or ""),
        template=str(data.get("template") or ""),
        cases=str(data.get("cases") or ""),
        form=str(data.get("form") or "lines"),
        samples=str(data.get("samples") or DEFAULT_EVAL_SAMPLES),
        columns=read_form(data).columns,
    )
    if uploaded is not None:
        form.cases = uploaded
        lower = filename.lower()
        if lower.endswith(".csv"):
            form.form = "csv"
        elif lower.endswith((".jsonl", ".ndjson")):
            form.form = "jsonl"
    for i, row in enumerate(form.checks):
        row.update(
            kind=str(data.get(f"c-{i}-kind") or "").strip(),
            value=str(data.get(f"c-{i}-value") or ""),
        )
    return form


def _check_value(kind: str, raw: str, field_name: str, errors: dict[str, str]) -> Any:
    if kind == "schema":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            errors[field_name] = f"The JSON Schema is not JSON: {error.msg} (line {error.lineno})."
            return None
    return raw if raw.strip() else None


def to_eval(form: EvalForm) -> EvalRequest | None:
    """Validate the form. On failure, fills form.errors keyed by form field name."""
    errors: dict[str, str] = {}
    if form.form not in FORMS:
        form.form = "lines"
    cases: list[Any] = []
    try:
        cases = [c.model_dump(exclude_defaults=True) for c in parse_cases(form.cases, form.form)]  # type: ignore[arg-type]
    except CasesError as error:
        errors["cases"] = str(error)
    checks, rows = [], []
    for i, row in enumerate(form.checks):
        if not row["kind"]:
            continue
        value = _check_value(row["kind"], row["value"], f"c-{i}-value", errors)
        checks.append({"kind": row["kind"], "value": value})
        rows.append(i)
        try:  # each row on its own, so that its message shows even when the cases are wrong
            Check.model_validate(checks[-1])
        except ValidationError as error:
            for path, message in by_field(error).items():
                errors.setdefault(f"c-{i}-{'kind' if path == 'kind' else 'value'}", message)
    # The presets as the playground reads them, with its messages by field.
    playground = PlaygroundForm(prompt="-", samples="1", columns=form.columns)
    if to_request(playground) is None:
        errors.update({k: v for k, v in playground.errors.items() if k != "prompt"})
        errors.setdefault("presets", "Check the presets: each field says what is wrong.")
    if errors:
        form.errors = errors
        return None
    presets = to_request(playground)
    assert presets is not None
    data = {
        "name": form.name,
        "system": form.system,
        "template": form.template,
        "cases": cases,
        "checks": checks,
        "presets": presets.presets,
        "samples": int(form.samples) if form.samples.isdigit() else form.samples,
    }
    try:
        return EvalRequest.model_validate(data)
    except ValidationError as error:
        form.errors = field_names(by_field(error), rows)
        return None


def field_names(problems: dict[str, str], check_rows: list[int] | None = None) -> dict[str, str]:
    """Problems by the form's field names: a case's at the cases (naming the case), a check's
    at its row, a preset's at its column's field."""
    found: dict[str, str] = {}
    for path, message in problems.items():
        if match := _CASE.match(path):
            number = int(match.group(1)) + 1
            found.setdefault(
                "cases", f"Case {number}: {message}" if "Case" not in message else message
            )
        elif match := _CHECK.match(path):
            index = int(match.group(1))
            row = check_rows[index] if check_rows and index < len(check_rows) else index
            kind = "kind" if path.endswith(".kind") else "value"
            found.setdefault(f"c-{row}-{kind}", message)
        elif m := re.match(r"^presets\[(\d+)\]\.(\w+)", path):
            found.setdefault(f"p-{m.group(1)}-{m.group(2)}", message)
        else:
            found.setdefault(path.split("[")[0].split(".")[0] or "cases", message)
    return found
