"""Checks on an eval's answers: deterministic, one declaration per kind (CHECKS).

A check is what a person asked for (`Check`: a kind and maybe a value, refused with a message
when it cannot work); `passes` applies it to one answer. A request that failed passes nothing.

Regexes and JSON Schemas are user input run on the server, against answers of up to 200,000
characters, every time an eval's figures are shown, so:
- regexes run on RE2 (a `regex` check's, and a schema's `pattern` and `patternProperties`): time
  linear in the answer, no catastrophic backtracking; what RE2 cannot compile is refused;
- a schema is bounded (SCHEMA_MAX_CHARS, SCHEMA_MAX_DEPTH) and must be valid for its draft;
  `uniqueItems` is checked in linear time (jsonschema compares every pair of objects: 8,000
  objects took 42 s), and `unevaluatedProperties` / `unevaluatedItems` are refused (quadratic
  in jsonschema: 14 s on a long array);
- a schema check stops, and fails, after SCHEMA_SECONDS of the thread's CPU time (whatever
  else is left: many branches × a long answer). A sane schema takes ~0.2 s on 200,000 characters
  of JSON, most of it jsonschema's own pace;
- `$ref` never fetches anything: the registry has no way to retrieve, so a reference that is
  not inside the schema (a remote URL, a missing `$defs` entry) makes the check fail on every
  answer, rather than being refused up front (where a reference points depends on `$id`s and
  the draft: only resolving tells).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NoReturn

import re2
from jsonschema import Draft202012Validator, SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from referencing import Registry
from referencing.exceptions import Unresolvable

from app.engine.sweeps.definition import refused

CheckValue = str | int | float | dict[str, Any] | None
Takes = Literal["text", "optional_text", "number", "schema", "none"]

MAX_TEXT = 2_000  # a contains/regex value: a phrase or a pattern, not a document
MAX_WORDS = 100_000
SCHEMA_MAX_CHARS = 20_000
SCHEMA_MAX_DEPTH = 20
SCHEMA_SECONDS = 1.0
SHOWN_CHARS = 60  # a value as `describe` shows it
SCHEMA_MESSAGE_CHARS = 200  # jsonschema's complaint as a refusal quotes it

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
    return _regex(value).search(answer.text) is not None


def _final_number(answer: Answer, value: str | int | float) -> bool:
    got = _last_number(answer.text)
    want = float(value) if isinstance(value, int | float) else _last_number(value)
    return got is not None and want is not None and math.isclose(got, want, rel_tol=1e-9)


def _is_json(answer: Answer, value: None) -> bool:
    return _json_of(answer.text) is not _NOT_JSON


def _matches_schema(answer: Answer, schema: dict[str, Any]) -> bool:
    data = _json_of(answer.text)
    if data is _NOT_JSON:
        return False
    # An empty registry cannot retrieve: remote references fail instead of fetching.
    validator = _safe(_draft(schema))(schema, registry=Registry())
    token = _deadline.set(time.thread_time() + SCHEMA_SECONDS)
    try:
        return validator.is_valid(data)
    except (Unresolvable, _OutOfTime, RecursionError, re2.error):
        return False
    finally:
        _deadline.reset(token)


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
        return _schema_value(value)
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
    if name == "regex":
        try:
            _regex(value)
        except re2.error as error:
            raise refused(
                f"{value!r} is not a regular expression RE2 accepts: {_re2_reason(error)}."
            ) from None
    return value


def _schema_value(schema: Any) -> dict[str, Any]:
    """A JSON Schema that is bounded, valid and runs on RE2, or refused saying what is wrong."""
    if not isinstance(schema, dict):
        raise refused('\'schema\' needs a JSON Schema: an object, such as {"type": "object"}.')
    if _depth(schema) > SCHEMA_MAX_DEPTH:
        raise refused(f"The JSON Schema is nested too deeply ({SCHEMA_MAX_DEPTH} levels at most).")
    try:
        size = len(json.dumps(schema, allow_nan=False))
    except (TypeError, ValueError):
        raise refused("The JSON Schema must be plain JSON.") from None
    if size > SCHEMA_MAX_CHARS:
        raise refused(
            f"The JSON Schema is too large ({size:,} characters; {SCHEMA_MAX_CHARS:,} at most)."
        )
    try:
        # Its regexes are judged by RE2 below, which runs them, not by Python's `re`.
        _draft(schema).check_schema(schema, format_checker=None)
    except SchemaError as error:
        raise refused(
            f"The JSON Schema is not valid: {_shorten(error.message, SCHEMA_MESSAGE_CHARS)}"
        ) from None
    for keyword, item in _keywords(schema):
        if keyword in ("unevaluatedProperties", "unevaluatedItems"):
            raise refused(
                f"The JSON Schema uses {keyword}, which is not supported here (too slow on long "
                "answers): use additionalProperties or items instead."
            )
        patterns = [item] if keyword == "pattern" and isinstance(item, str) else []
        if keyword == "patternProperties" and isinstance(item, dict):
            patterns = list(item)
        for pattern in patterns:
            try:
                _regex(pattern)
            except re2.error as error:
                raise refused(
                    f"The JSON Schema's pattern {_shorten(pattern, SHOWN_CHARS)!r} is not a "
                    f"regular expression RE2 accepts: {_re2_reason(error)}."
                ) from None
    return schema


def _depth(value: Any) -> int:
    """How deep objects and arrays nest in `value`, counted no further than one past the limit
    (iteratively: a deeper value would overflow a recursive count)."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= SCHEMA_MAX_DEPTH:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _keywords(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every key and value in the schema, skipping values that are data rather than schema
    (a `pattern` key inside an `enum` value is not a regex)."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, item in node.items():
                if key not in ("const", "enum", "default", "examples"):
                    yield key, item
                    stack.append(item)


# Running: regexes, numbers, JSON.


@lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    """The RE2 regex; re2.error when RE2 cannot compile it (kept quiet: no log on stderr)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def _re2_reason(error: Exception) -> str:
    reason = error.args[0] if error.args else str(error)
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


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


# The schema validator: jsonschema's, on RE2, linear uniqueItems, with a time limit.


class _OutOfTime(Exception):
    pass


_deadline: ContextVar[float] = ContextVar("_deadline", default=math.inf)


def _in_time() -> None:
    if time.thread_time() > _deadline.get():
        raise _OutOfTime


def _draft(schema: dict[str, Any]) -> type[Validator]:
    """The validator class of the schema's `$schema`, 2020-12 when none is named (or when it is
    not text: jsonschema would fail looking it up, and check_schema then says what is wrong)."""
    if not isinstance(schema.get("$schema", ""), str):
        return Draft202012Validator
    draft: type[Validator] = validator_for(schema, default=Draft202012Validator)
    return draft


_SAFE: dict[type[Validator], type[Validator]] = {}  # per draft, made once


def _safe(base: type[Validator]) -> type[Validator]:
    """`base` with RE2 for its regexes, a linear uniqueItems, and every keyword timed."""
    if base in _SAFE:
        return _SAFE[base]
    mine = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "uniqueItems": _unique_items,
    }
    keywords = {k: _timed(mine.get(k, run)) for k, run in base.VALIDATORS.items()}
    _SAFE[base] = extend(base, keywords)
    return _SAFE[base]


Keyword = Callable[[Validator, Any, Any, dict[str, Any]], Any]


def _timed(keyword: Keyword) -> Keyword:
    def run(validator: Validator, value: Any, instance: Any, schema: dict[str, Any]) -> Any:
        _in_time()
        return keyword(validator, value, instance, schema)

    return run


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and _regex(pattern).search(instance) is None:
        yield ValidationError(f"does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        _in_time()
        regex = _regex(pattern)
        for key, item in instance.items():
            if regex.search(key) is not None:
                yield from validator.descend(item, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, more: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    regexes = [_regex(pattern) for pattern in schema.get("patternProperties", {})]
    extras = []
    for key in instance:
        _in_time()
        if key not in named and not any(regex.search(key) for regex in regexes):
            extras.append(key)
    if validator.is_type(more, "object"):
        for key in extras:
            yield from validator.descend(instance[key], more, path=key)
    elif not more and extras:
        yield ValidationError(f"unexpected properties: {', '.join(map(repr, extras[:5]))}")


def _unique_items(
    validator: Validator, unique: bool, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if unique and validator.is_type(instance, "array"):
        seen = {_identity(item) for item in instance}
        if len(seen) < len(instance):
            yield ValidationError("has non-unique elements")


def _identity(value: Any) -> Any:
    """A hashable stand-in, equal exactly when JSON Schema calls two values equal: 1 and 1.0
    are, true and 1 are not, objects regardless of key order."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _identity(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_identity(v) for v in value))
    if isinstance(value, int | float):
        return ("number", value)
    return (type(value).__name__, value)


def _shown(value: CheckValue) -> str:
    if value is None:
        return "the expected answer"
    if isinstance(value, dict):
        return "the JSON Schema"
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else str(value)
    return f"“{_shorten(' '.join(value.split()), SHOWN_CHARS)}”"


def _shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
