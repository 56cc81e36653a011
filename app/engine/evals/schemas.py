"""JSON Schemas for the `schema` check, and the RE2 regexes it shares with the `regex` check.

A schema is user input run on the server, against answers of up to 200,000 characters, every
time an eval's figures are shown, so `checked_schema` refuses what cannot run safely and
`matches` runs the rest within bounds:
- regexes run on RE2 (a schema's `pattern` and `patternProperties`, and a `regex` check's):
  time linear in the answer, no catastrophic backtracking; what RE2 cannot compile is refused;
- a schema is bounded (SCHEMA_MAX_CHARS, SCHEMA_MAX_DEPTH) and must be valid for its draft;
  `uniqueItems` is checked in linear time (jsonschema compares every pair of objects: 8,000
  objects took 42 s), and `unevaluatedProperties` / `unevaluatedItems` are refused (quadratic
  in jsonschema: 14 s on a long array);
- matching stops, and fails, after SCHEMA_SECONDS of the thread's CPU time (whatever else is
  left: many branches × a long answer). A sane schema takes ~0.2 s on 200,000 characters of
  JSON, most of it jsonschema's own pace;
- `$ref` never fetches anything: the registry has no way to retrieve, so a reference that is
  not inside the schema (a remote URL, a missing `$defs` entry) makes every match fail, rather
  than being refused up front (where a reference points depends on `$id`s and the draft: only
  resolving tells).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import re2
from jsonschema import Draft202012Validator, SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from app.engine.sweeps.definition import refused

SCHEMA_MAX_CHARS = 20_000
SCHEMA_MAX_DEPTH = 20
SCHEMA_SECONDS = 1.0
SCHEMA_MESSAGE_CHARS = 200  # jsonschema's complaint as a refusal quotes it
PATTERN_SHOWN_CHARS = 60  # a schema's pattern as a refusal quotes it


def checked_schema(schema: Any) -> dict[str, Any]:
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
            if (reason := regex_problem(pattern)) is not None:
                raise refused(
                    f"The JSON Schema's pattern {_shorten(pattern, PATTERN_SHOWN_CHARS)!r} is not "
                    f"a regular expression RE2 accepts: {reason}."
                )
    return schema


def matches(schema: dict[str, Any], instance: Any) -> bool:
    """Whether the JSON value `instance` is valid against `schema` (one `checked_schema`
    let through); False, too, when a reference does not resolve or time runs out."""
    # An empty registry cannot retrieve: remote references fail instead of fetching.
    validator = _safe(_draft(schema))(schema, registry=Registry())
    token = _deadline.set(time.thread_time() + SCHEMA_SECONDS)
    try:
        return validator.is_valid(instance)
    except (Unresolvable, _OutOfTime, RecursionError, re2.error):
        return False
    finally:
        _deadline.reset(token)


@lru_cache(maxsize=256)
def regex(pattern: str) -> Any:
    """The RE2 regex; re2.error when RE2 cannot compile it (kept quiet: no log on stderr)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def regex_problem(pattern: str) -> str | None:
    """Why RE2 cannot compile `pattern`, in RE2's words; None when it can."""
    try:
        regex(pattern)
    except re2.error as error:
        reason = error.args[0] if error.args else str(error)
        return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    return None


# Judging a schema before it is stored.


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


def _shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


# The validator: jsonschema's, on RE2, linear uniqueItems, with a time limit.


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
    if validator.is_type(instance, "string") and regex(pattern).search(instance) is None:
        yield ValidationError(f"does not match {pattern!r}")


def _pattern_properties(
    validator: Validator, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        _in_time()
        compiled = regex(pattern)
        for key, item in instance.items():
            if compiled.search(key) is not None:
                yield from validator.descend(item, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, more: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    regexes = [regex(pattern) for pattern in schema.get("patternProperties", {})]
    extras = []
    for key in instance:
        _in_time()
        if key not in named and not any(compiled.search(key) for compiled in regexes):
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
