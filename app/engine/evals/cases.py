"""An eval's cases, entered the way people already have them: a prompt per line, a spreadsheet
exported as CSV, or JSON Lines.

A case is a prompt, a short conversation (few-shot turns ending with the user's), or only
variables that fill in the eval's template. Templates are plain `{{name}}` substitution — no
Jinja, nothing evaluated — because the text comes from whoever pastes it. Uploads are the web
layer's; these parsers take text, and name the line of anything they refuse.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.engine.knobs import MAX_CHARS
from app.engine.sweeps.definition import refused

MAX_CASES = 500
MAX_TURNS = 50
MAX_VARS = 50
MAX_CASE_CHECKS = 20
MAX_EXPECTED_CHARS = 20_000
MAX_TEXT_CHARS = 2_000_000  # what the parsers take at most: ample for MAX_CASES cases
LABEL_CHARS = 80

Text = Annotated[str, Field(max_length=MAX_CHARS["prompt"])]


class Turn(BaseModel):
    """One message of a case's conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: Text


class Case(BaseModel):
    """One thing the eval asks: a prompt, a conversation, or the template's variables."""

    model_config = ConfigDict(extra="forbid")

    prompt: Text | None = None
    messages: list[Turn] | None = Field(
        default=None, description="a short conversation ending with the user's turn"
    )
    vars: dict[str, Text] = Field(
        default_factory=dict, description="filled into the template's {{name}}s"
    )
    expected: str | None = Field(default=None, max_length=MAX_EXPECTED_CHARS)
    # Validated as checks by app/engine/evals/definition.py, which knows the kinds.
    checks: list[dict[str, Any]] = Field(default_factory=list)

    # The counts are refused before their items are validated, and in words a person can use.
    @field_validator("messages", mode="before")
    @classmethod
    def _turns(cls, value: Any) -> Any:
        if isinstance(value, list) and not 1 <= len(value) <= MAX_TURNS:
            raise refused(f"A conversation has 1 to {MAX_TURNS} turns; this has {len(value)}.")
        return value

    @field_validator("vars", mode="before")
    @classmethod
    def _few_vars(cls, value: Any) -> Any:
        if isinstance(value, dict) and len(value) > MAX_VARS:
            raise refused(f"A case has at most {MAX_VARS} variables; this has {len(value)}.")
        return value

    @field_validator("checks", mode="before")
    @classmethod
    def _few_checks(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) > MAX_CASE_CHECKS:
            raise refused(f"A case has at most {MAX_CASE_CHECKS} checks; this has {len(value)}.")
        return value

    @field_validator("messages")
    @classmethod
    def _conversation(cls, turns: list[Turn] | None) -> list[Turn] | None:
        if turns is None:
            return None
        systems = [i for i, turn in enumerate(turns) if turn.role == "system"]
        if systems and systems != [0]:
            raise refused("A conversation may have one system turn, and only as its first.")
        if turns[-1].role != "user":
            raise refused("A conversation must end with a user turn: the one to answer.")
        return turns

    @model_validator(mode="after")
    def _asks_something(self) -> Case:
        if self.prompt is not None and self.messages is not None:
            raise refused("Give a case a prompt or messages, not both.")
        if self.prompt is not None and not self.prompt.strip():
            raise refused("The prompt is blank: write one, or give variables for the template.")
        if self.prompt is None and self.messages is None and not self.vars:
            raise refused("A case needs a prompt, messages, or variables for the template.")
        return self

    def label(self) -> str:
        """One short line for tables: the prompt, the last user turn, or the variables."""
        if self.prompt is not None:
            text = self.prompt
        elif self.messages:
            text = next(t.content for t in reversed(self.messages) if t.role == "user")
        else:
            text = ", ".join(f"{name}={value}" for name, value in self.vars.items())
        return shorten(text)


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class CasesError(ValueError):
    """Why pasted cases were refused, and on which line (1-based) when there is one."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return self.message if self.line is None else f"Line {self.line}: {self.message}"


TEMPLATE_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def template_vars(template: str) -> list[str]:
    """The template's variable names, each once, in the order they first appear."""
    return list(dict.fromkeys(TEMPLATE_VAR.findall(template)))


def render(template: str, vars: Mapping[str, str]) -> str:
    """`template` with each {{name}} replaced; KeyError(name) for a name without a value.

    One pass of re.sub: a value is inserted as it is, never scanned again, so a case whose text
    contains "{{x}}" is asked verbatim and cannot pull in another variable.
    """

    def value(match: re.Match[str]) -> str:
        return vars[match.group(1)]

    return TEMPLATE_VAR.sub(value, template)


def prompt_for(case: Case, template: str | None) -> str | None:
    """What a case asks as one prompt: its own prompt, else the template filled in from its
    variables; None for a conversation (it is sent as turns) or with nothing to fill in."""
    if case.prompt is not None:
        return case.prompt
    if case.messages is not None or not template:
        return None
    return render(template, case.vars)


# Columns (and JSON keys) that are not template variables. "expected" is the expected answer;
# each of the others, when filled in, is a check for that case alone, of the kind it names.
CASE_COLUMNS = (
    "expected",
    "contains",
    "not_contains",
    "regex",
    "max_words",
    "final_number",
    "equals",
)
CASE_FIELDS = ("prompt", "messages", "vars", "expected", "checks")

Row = tuple[int, dict[str, Any]]  # a line number and the fields of the case on it


def _text(text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise CasesError(
            None,
            f"The cases are too large ({len(text):,} characters; {MAX_TEXT_CHARS:,} at most): "
            "split them into several evals.",
        )
    # Spreadsheets save CSV with a byte-order mark, which would otherwise join the first header.
    return text.removeprefix("\ufeff")


def _cases(rows: Iterable[Row]) -> list[Case]:
    cases = []
    for line, data in rows:
        try:
            cases.append(Case.model_validate(data))
        except ValidationError as error:
            raise CasesError(line, _message(error)) from None
    return cases


def _message(error: ValidationError) -> str:
    """The first problem, named by its field (`messages[2].role: …`) when it has one."""
    first = error.errors()[0]
    path = ""
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{path}: {first['msg']}" if path else first["msg"]


def _split(text: str) -> list[str]:
    """The lines as an editor numbers them (at LF, CRLF or CR), ends kept for the csv module.
    Not str.splitlines, which also splits at characters a JSON string may hold (U+2028…)."""
    return list(io.StringIO(_text(text), newline=""))


def _lines(text: str) -> Iterator[Row]:
    found = False
    for number, line in enumerate(_split(text), start=1):
        if line.strip():
            found = True
            yield number, {"prompt": line.strip()}
    if not found:
        raise CasesError(None, "Paste at least one case: one prompt per line.")


def from_lines(text: str) -> list[Case]:
    """One prompt per non-blank line."""
    return _cases(_lines(text))


def _delimiter(header: str) -> str:
    """Comma, semicolon (spreadsheets in locales with a decimal comma) or tab, as the header
    has it. The header alone decides: names rarely hold a delimiter, where prompts often hold
    commas. Only the delimiter is taken from the Sniffer; its other guesses (no doubled quotes
    when the header has no quotes) would misread the rows' "" escapes."""
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _csv_rows(text: str) -> Iterator[Row]:
    lines = _split(text)
    skipped = next((i for i, line in enumerate(lines) if line.strip()), None)
    if skipped is None:
        raise CasesError(None, "Paste at least one case: a header row, then one row per case.")
    reader = csv.DictReader(lines[skipped:], delimiter=_delimiter(lines[skipped]))
    try:
        names = [_column(name) for name in reader.fieldnames or []]
    except csv.Error as error:
        raise CasesError(skipped + 1, f"The header is not valid CSV: {error}.") from None
    _check_header(skipped + reader.line_num, names)
    reader.fieldnames = names
    variables = [n for n in names if n != "prompt" and n not in CASE_COLUMNS]
    found = False
    while True:
        # Where the next record starts: past any blank lines, which DictReader skips unsaid.
        start = skipped + reader.line_num + 1
        while start <= len(lines) and not lines[start - 1].strip("\r\n"):
            start += 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise CasesError(start, f"This row is not valid CSV: {error}.") from None
        extra = row.pop(None, None)  # DictReader's key for cells past the header's columns
        if extra:
            raise CasesError(
                start,
                f"This row has {len(names) + len(extra)} cells but the header has {len(names)} "
                "columns: put quotes around cells that contain the delimiter.",
            )
        cells = {name: value or "" for name, value in row.items()}  # short rows: None
        if not any(value.strip() for value in cells.values()):
            continue  # a spreadsheet's empty row (",,,")
        found = True
        yield start, _case_of(cells, variables)
    if not found:
        raise CasesError(None, "The CSV has a header but no cases: add one row per case.")


def _column(name: str) -> str:
    # Case-blind for the columns Knobs knows ("Prompt", "Expected"); variables are kept as typed.
    name = name.strip()
    return name.lower() if name.lower() in ("prompt", *CASE_COLUMNS) else name


def _check_header(line: int, names: list[str]) -> None:
    for position, name in enumerate(names, start=1):
        if not name:
            raise CasesError(
                line,
                f"Column {position} of the header has no name: name every column (prompt, "
                "expected, or a template variable).",
            )
        if names.count(name) > 1:
            raise CasesError(line, f"The header names {name!r} twice: name each column once.")
    if "prompt" not in names and all(name in CASE_COLUMNS for name in names):
        raise CasesError(
            line,
            "The header needs a prompt column, or columns for the template's variables "
            f"(it has {', '.join(names)}).",
        )


def _case_of(cells: Mapping[str, str], variables: list[str]) -> dict[str, Any]:
    prompt = cells.get("prompt", "")
    expected = cells.get("expected", "").strip()
    return {
        "prompt": prompt if prompt.strip() else None,
        "vars": {name: cells[name] for name in variables},
        "expected": expected or None,
        "checks": _checks(cells),
    }


def _checks(fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A case's own checks from its check columns (or keys), those filled in."""
    found = []
    for kind in CASE_COLUMNS[1:]:
        value = fields.get(kind)
        if isinstance(value, str):
            value = value.strip()
        if value is not None and value != "":
            found.append({"kind": kind, "value": value})
    return found


def from_csv(text: str) -> list[Case]:
    """A header row, then one case per row: a `prompt` column, the template's variables, and
    `expected` or check columns (CASE_COLUMNS). Comma, semicolon or tab separated."""
    return _cases(_csv_rows(text))


def _jsonl_rows(text: str) -> Iterator[Row]:
    found = False
    for number, line in enumerate(_split(text), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise CasesError(number, f"not JSON: {error.msg} (column {error.colno}).") from None
        if not isinstance(data, dict):
            raise CasesError(
                number, 'Each line must be one JSON object, like {"prompt": "What is 2+2?"}.'
            )
        found = True
        yield number, _fold(number, data)
    if not found:
        raise CasesError(
            None, 'Paste at least one case: one JSON object per line, like {"prompt": "…"}.'
        )


def _fold(line: int, data: dict[str, Any]) -> dict[str, Any]:
    """A dataset's own row as a case, so that rows like {"question": "…", "expected": "4"}
    paste as they are: check keys (as CSV's columns) become checks; other text or numbers,
    variables. Lists, objects and nulls cannot fill a template and are left out; were one
    meant, preflight names the variable the case lacks."""
    case = {key: value for key, value in data.items() if key in CASE_FIELDS}
    if "expected" in case:
        case["expected"] = _scalar(case["expected"])  # {"expected": 4} means "4"
    columns, own_checks = _checks(data), case.get("checks", [])
    if columns and isinstance(own_checks, list):
        case["checks"] = [*own_checks, *columns]
    own = case.get("vars", {})
    if not isinstance(own, dict):
        return case  # refused by the model, at "vars"
    variables = {key: _scalar(value) for key, value in own.items()}
    for key, value in data.items():
        if key in CASE_FIELDS or key in CASE_COLUMNS:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        if key in variables:
            raise CasesError(line, f"{key!r} is given both in vars and on its own: give it once.")
        variables[key] = _scalar(value)
    case["vars"] = variables
    return case


def _scalar(value: Any) -> Any:
    # JSON numbers fill a template as JSON writes them; anything else is the model's to refuse.
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return json.dumps(value) if is_number else value


def from_jsonl(text: str) -> list[Case]:
    """One JSON object per line: a case's fields, with any other text or number a variable."""
    return _cases(_jsonl_rows(text))


ROWS = {"lines": _lines, "csv": _csv_rows, "jsonl": _jsonl_rows}


def parse_cases(text: str, form: Literal["lines", "csv", "jsonl"]) -> list[Case]:
    """The cases in `text`, pasted in `form`; CasesError says what to fix, and where."""
    # Counted before any case is validated: too many is refused without the work.
    rows = list(ROWS[form](text))
    if len(rows) > MAX_CASES:
        raise CasesError(None, f"At most {MAX_CASES} cases per eval; this has {len(rows)}.")
    return _cases(rows)
