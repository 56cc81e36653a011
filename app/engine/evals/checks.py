"""Checks on an eval's answers: deterministic, one declaration per kind (CHECKS).

A check is what a person asked for (`Check`: a kind and maybe a value, refused with a message
when it cannot work); `passes` applies it to one answer. A request that failed passes nothing.

Regexes and JSON Schemas are user input run on the server, every time an eval's figures are
shown: both run on RE2, and a schema is bounded and timed (schemas.py says how).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.engine.evals.cases import shorten
from app.engine.evals.schemas import SCHEMA_MAX_CHARS as SCHEMA_MAX_CHARS  # re-exported
from app.engine.evals.schemas import checked_schema, matches, regex, regex_problem
from app.engine.sweeps.definition import refused

CheckValue = str | int | float | dict[str, Any] | None
Takes = Literal["text", "optional_text", "number", "schema", "none"]

MAX_TEXT = 2_000  # a contains/regex value: a phrase or a pattern, not a document
MAX_WORDS = 100_000
SHOWN_CHARS = 60  # a value as `describe` shows it

# The number rule of `final_number`: 1,234.50 reads as 1234.5, "-3" as -3.
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# How refusals open (after whitespace and a quote, compared casefolded); with a curly apostrophe
# too, as models often write it.
_REFUSAL_OPENINGS = (
    "i'm sorry, but",
    "i am sorry, but",
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i'm unable to",
    "i am unable to",
    "i won't",
    "as an ai",
)
REFUSAL_OPENINGS = _REFUSAL_OPENINGS + tuple(
    p.replace("'", "’") for p in _REFUSAL_OPENINGS if "'" in p
)
_QUOTES = "\"'“‘«"


@dataclass(frozen=True)
class Answer:
    """One answer as the checks see it."""

    text: str
    finish_reason: str | None = None
    refusal: bool = False  # the API returned a refusal field
    error: str | None = None  # the request failed


class Check(BaseModel):
    """One check as asked for: its kind, and its value when the kind takes one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    # Refused or normalised per kind below; validated even when left out, since some kinds
    # need a value.
    value: CheckValue = Field(default=None, validate_default=True)

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        if kind not in CHECK_BY_NAME:
            raise refused(f"{kind!r} is not a check; the kinds are: {', '.join(CHECK_BY_NAME)}.")
        return kind

    @field_validator("value", mode="before")
    @classmethod
    def _fits_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is None:  # refused above: its value cannot be judged
            return value
        return _value_for(CHECK_BY_NAME[kind], None if value == "" else value)

    def needs_expected(self) -> bool:
        """Whether this check compares with the case's expected answer."""
        return self.value is None and CHECK_BY_NAME[self.kind].takes == "optional_text"


@dataclass(frozen=True)
class CheckKind:
    name: str
    label: str  # short, for a select or a table header
    explain: str  # one line for people; {value} is the value as `describe` shows it
    takes: Takes
    run: Callable[[Answer, Any], bool]  # the answer and the value (the expected one if none)


def passes(check: Check, answer: Answer, expected: str | None = None) -> bool:
    """A failed request (answer.error set) fails every check. equals/final_number with value
    None use `expected`; if that is None too, the check fails (callers refuse that case
    earlier)."""
    if answer.error is not None:
        return False
    value = expected if check.needs_expected() else check.value
    if check.needs_expected() and value is None:
        return False
    return CHECK_BY_NAME[check.kind].run(answer, value)


def describe(check: Check) -> str:
    """One line for people: what the check asks, its value filled in."""
    kind = CHECK_BY_NAME[check.kind]
    return kind.explain.format(value=_shown(check.value))


def normalise(text: str) -> str:
    """For `equals`: "  Paris. " and "paris" are the same answer."""
    return " ".join(text.casefold().split()).removesuffix(".").rstrip()


# Each kind's test: (answer, value) -> passed; the value is validated already.


def _equals(answer: Answer, value: str) -> bool:
    return normalise(answer.text) == normalise(value)


def _contains(answer: Answer, value: str) -> bool:
    return value in answer.text


def _not_contains(answer: Answer, value: str) -> bool:
    return value not in answer.text


def _regex_matches(answer: Answer, value: str) -> bool:
    return regex(value).search(answer.text) is not None


def _final_number(answer: Answer, value: str | int | float) -> bool:
    got = _last_number(answer.text)
    want = float(value) if isinstance(value, int | float) else _last_number(value)
    return got is not None and want is not None and math.isclose(got, want, rel_tol=1e-9)


def _is_json(answer: Answer, value: None) -> bool:
    return _json_of(answer.text) is not _NOT_JSON


def _matches_schema(answer: Answer, schema: dict[str, Any]) -> bool:
    data = _json_of(answer.text)
    return data is not _NOT_JSON and matches(schema, data)


def _max_words(answer: Answer, value: int) -> bool:
    # Split no further than needed: more than `value` pieces means more than `value` words.
    return len(answer.text.split(maxsplit=value)) <= value


def _not_truncated(answer: Answer, value: None) -> bool:
    return answer.finish_reason != "length"


def _not_refusal(answer: Answer, value: None) -> bool:
    opening = answer.text.lstrip()[:80]
    opening = opening[1:].lstrip() if opening[:1] in _QUOTES else opening
    return not answer.refusal and not opening.casefold().startswith(REFUSAL_OPENINGS)


CHECKS: tuple[CheckKind, ...] = (
    CheckKind(
        "equals",
        "Equals",
        "The answer equals {value}, ignoring case, spaces and a final full stop.",
        "optional_text",
        _equals,
    ),
    CheckKind(
        "contains", "Contains", "The answer contains {value} (case-sensitive).", "text", _contains
    ),
    CheckKind(
        "not_contains",
        "Does not contain",
        "The answer does not contain {value} (case-sensitive).",
        "text",
        _not_contains,
    ),
    CheckKind(
        "regex",
        "Matches regex",
        "The regular expression {value} matches somewhere in the answer (RE2 syntax).",
        "text",
        _regex_matches,
    ),
    CheckKind(
        "final_number",
        "Final number",
        "The last number in the answer equals {value} (1,234.5 reads as 1234.5).",
        "optional_text",
        _final_number,
    ),
    CheckKind(
        "json",
        "Valid JSON",
        "The answer is valid JSON (a surrounding ```json code fence is allowed).",
        "none",
        _is_json,
    ),
    CheckKind(
        "schema",
        "Matches schema",
        "The answer is JSON that matches the JSON Schema.",
        "schema",
        _matches_schema,
    ),
    CheckKind(
        "max_words", "Max words", "The answer has at most {value} words.", "number", _max_words
    ),
    CheckKind(
        "not_truncated",
        "Not truncated",
        "The answer was not cut off by the token limit (finish reason “length”).",
        "none",
        _not_truncated,
    ),
    CheckKind(
        "not_refusal",
        "Not a refusal",
        "The answer is not a refusal (flagged by the API, or opening “I'm sorry, but…”).",
        "none",
        _not_refusal,
    ),
)
CHECK_BY_NAME: dict[str, CheckKind] = {kind.name: kind for kind in CHECKS}


# Validating a value for its kind.


def _value_for(kind: CheckKind, value: Any) -> CheckValue:
    """`value` as `kind` stores it, or refused with what the kind takes."""
    name = kind.name
    if kind.takes == "none":
        if value is not None:
            raise refused(f"{name!r} takes no value.")
        return None
    if kind.takes == "number":
        # ASCII digits only, and few: int() refuses "²" and numbers of 4,300 digits or more.
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,7}", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WORDS:
            raise refused(f"{name!r} needs a whole number of words from 1 to {MAX_WORDS:,}.")
        return value
    if kind.takes == "schema":
        return checked_schema(value)
    if value is None and kind.takes == "optional_text":
        return None
    if name == "final_number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise refused(f"{name!r} needs a number, such as 42 or 1,234.5.")
            return value
        if not isinstance(value, str) or _NUMBER.search(value) is None:
            raise refused(f"{name!r} needs a number, such as 42 or 1,234.5; {value!r} has none.")
    if not isinstance(value, str):
        what = "the text to compare with" if kind.takes == "optional_text" else "text"
        raise refused(f"{name!r} needs {what} as its value.")
    if len(value) > MAX_TEXT:
        raise refused(
            f"{name!r}: the value is too long ({len(value):,} characters; {MAX_TEXT:,} at most)."
        )
    if name == "regex" and (reason := regex_problem(value)) is not None:
        raise refused(f"{value!r} is not a regular expression RE2 accepts: {reason}.")
    return value


# Running: numbers, JSON.


def _last_number(text: str) -> float | None:
    last = None
    for last in _NUMBER.finditer(text):  # noqa: B007 - only the last one counts
        pass
    return None if last is None else float(last.group().replace(",", ""))


_NOT_JSON = object()


def _json_of(text: str) -> Any:
    """The answer's JSON, inside a ```json fence or not; _NOT_JSON when it is not JSON."""
    text = text.strip()
    if len(text) >= 6 and text.startswith("```") and text.endswith("```"):
        text = text[3:-3]
        text = text[4:] if text[:4].lower() == "json" else text
    try:
        return json.loads(text, parse_constant=_not_a_number)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _not_a_number(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN and Infinity


def _shown(value: CheckValue) -> str:
    if value is None:
        return "the expected answer"
    if isinstance(value, dict):
        return "the JSON Schema"
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else str(value)
    return f"“{shorten(value, SHOWN_CHARS)}”"
