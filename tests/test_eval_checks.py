"""Eval checks: each kind on realistic answers, every refusal's message, and the guards on user
input run on the server (RE2, bounded schemas, no fetching, linear time)."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.engine.evals.checks import (
    CHECK_BY_NAME,
    CHECKS,
    SCHEMA_MAX_CHARS,
    Answer,
    Check,
    describe,
    normalise,
    passes,
)

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
FENCED = 'Here you go:\n```json\n{"name": "Ada", "age": 36}\n```'


def check(kind: str, value: Any = None) -> Check:
    return Check(kind=kind, value=value)


def refusal(kind: str, value: Any = None) -> str:
    """The message a person sees when the check is refused."""
    with pytest.raises(ValidationError) as caught:
        Check(kind=kind, value=value)
    return str(caught.value)


def ok(c: Check, text: str, expected: str | None = None, **answer: Any) -> bool:
    return passes(c, Answer(text, **answer), expected)


def test_the_table_is_in_order_and_indexed_by_name():
    assert [k.name for k in CHECKS] == [
        "equals",
        "contains",
        "not_contains",
        "regex",
        "final_number",
        "json",
        "schema",
        "max_words",
        "not_truncated",
        "not_refusal",
    ]
    assert all(CHECK_BY_NAME[k.name] is k and k.label and k.explain for k in CHECKS)


# Each kind, passing and failing.


def test_equals_ignores_case_spaces_and_a_final_full_stop():
    assert ok(check("equals", "Paris"), "  paris.\n")
    assert ok(check("equals", "New  York"), "new york")
    assert not ok(check("equals", "Paris"), "The capital is Paris.")
    assert not ok(check("equals", "Paris"), "Paris..")
    assert normalise("  The   Answer.  ") == "the answer"


def test_equals_and_final_number_fall_back_to_the_expected_answer():
    assert check("equals").needs_expected()
    assert check("final_number", "").needs_expected()
    assert not check("equals", "Paris").needs_expected()
    assert ok(check("equals"), "Paris.", expected="paris")
    assert not ok(check("equals"), "Lyon", expected="paris")
    assert ok(check("final_number"), "So the total is 1,234.50", expected="1234.5")
    # No value and no expected answer: nothing to compare with, so it fails.
    assert not ok(check("equals"), "Paris")
    assert not ok(check("final_number"), "42")
    # A value of its own wins over the expected answer.
    assert ok(check("final_number", 7), "7 apples", expected="42")


def test_contains_and_not_contains_are_case_sensitive():
    answer = "The mitochondria is the powerhouse of the cell."
    assert ok(check("contains", "powerhouse"), answer)
    assert not ok(check("contains", "Powerhouse"), answer)
    assert ok(check("not_contains", "Powerhouse"), answer)
    assert not ok(check("not_contains", "cell"), answer)


def test_regex_searches_anywhere_in_the_answer():
    assert ok(check("regex", r"\b\d{4}-\d{2}-\d{2}\b"), "It was released on 2021-03-14, I think.")
    assert not ok(check("regex", r"^\d+$"), "The answer is 42")
    assert ok(check("regex", r"(?i)^yes\b"), "Yes, it is.")


def test_final_number_compares_the_last_number():
    assert ok(check("final_number", "42"), "The answer is 42.")
    assert ok(check("final_number", 1234.5), "First 12, then 3 more, giving 1,234.50")
    assert ok(check("final_number", "The expected total is $1,234.5"), "Total: 1234.50")
    assert ok(check("final_number", -3), "It drops to -3")
    assert not ok(check("final_number", "42"), "42 is close, but the answer is 41.")
    assert not ok(check("final_number", "42"), "I don't know.")  # no number at all


def test_json_allows_one_surrounding_code_fence():
    assert ok(check("json"), FENCED.split(":\n", 1)[1])
    assert ok(check("json"), "\n```\n[1, 2, 3]\n```\n")
    assert ok(check("json"), ' {"a": null} ')
    assert not ok(check("json"), FENCED)  # prose around the fence
    assert not ok(check("json"), "{'a': 1}")
    assert not ok(check("json"), '{"a": NaN}')
    assert not ok(check("json"), "```python\nprint(1)\n```")
    assert not ok(check("json"), "[" * 100_000 + "]" * 100_000)  # too deep to parse


def test_schema_matches_the_answers_json():
    person = check("schema", PERSON)
    assert ok(person, '```json\n{"name": "Ada", "age": 36}\n```')
    assert not ok(person, '{"name": "Ada", "age": -1}')
    assert not ok(person, '{"name": "Ada", "age": 36, "extra": true}')
    assert not ok(person, '{"name": "Ada"}')
    assert not ok(person, "Ada, 36")  # not JSON


def test_schema_regexes_run_on_re2():
    dated = check("schema", {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"})
    assert ok(dated, '"2024-02-29"')
    assert not ok(dated, '"29/02/2024"')
    keyed = check(
        "schema",
        {"patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False},
    )
    assert ok(keyed, '{"x-a": 1, "x-b": 2}')
    assert not ok(keyed, '{"x-a": "one"}')
    assert not ok(keyed, '{"y": 1}')
    # Python's `re` would backtrack for ages on this; RE2 answers at once.
    assert not ok(check("schema", {"pattern": "^(a+)+$"}), json.dumps("a" * 100_000 + "!"))


def test_schema_unique_items_follows_json_equality():
    unique = check("schema", {"type": "array", "uniqueItems": True})
    assert ok(unique, '[1, true, "1", {"a": 1}, {"a": 2}]')
    assert not ok(unique, "[1, 1.0]")
    assert not ok(unique, '[{"a": 1, "b": 2}, {"b": 2, "a": 1}]')
    assert ok(unique, json.dumps([{"n": i} for i in range(20_000)]))


def test_a_schema_draft_is_taken_from_its_dollar_schema():
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    assert ok(check("schema", draft7), '["a", 1]')  # draft 7's tuple form of items
    assert not ok(check("schema", draft7), "[1]")


def test_max_words_counts_whitespace_separated_words():
    assert ok(check("max_words", 5), "Paris is the capital.")
    assert ok(check("max_words", "4"), "  Paris\nis the\tcapital.  ")
    assert not ok(check("max_words", 3), "Paris is the capital.")
    assert check("max_words", " 12 ").value == 12


def test_not_truncated_fails_on_the_token_limit():
    assert ok(check("not_truncated"), "A full answer.", finish_reason="stop")
    assert ok(check("not_truncated"), "No reason given.")
    assert not ok(check("not_truncated"), "The three main causes were", finish_reason="length")


@pytest.mark.parametrize(
    "answer",
    [
        "I'm sorry, but I can't help with that request.",
        "  i am unable to browse the internet.",
        "I’m sorry, but that is not something I can do.",
        '"I cannot provide medical advice."',
        "As an AI language model, I have no opinions.",
    ],
)
def test_not_refusal_fails_on_common_refusal_openings(answer: str):
    assert not ok(check("not_refusal"), answer)


def test_not_refusal_passes_answers_and_fails_api_refusals():
    assert ok(check("not_refusal"), "Sure! Here is a haiku about autumn.")
    assert ok(check("not_refusal"), "I'm sorry to hear that. Here is what you can do.")
    assert ok(check("not_refusal"), "The answer is no: as an AI would say, it depends.")
    assert not ok(check("not_refusal"), "", refusal=True)


def every_check() -> list[Check]:
    values = {
        "contains": "42",
        "not_contains": "x",
        "regex": ".",
        "schema": {},
        "max_words": 100,
        "equals": "42",
        "final_number": "42",
    }
    return [check(k.name, values.get(k.name)) for k in CHECKS]


def test_a_failed_request_fails_every_check():
    failed = Answer("42", finish_reason="stop", error="upstream timed out")
    assert all(passes(c, Answer("42"), "42") for c in every_check())
    assert not any(passes(c, failed, "42") for c in every_check())


# Refusals, with the message a person sees.


def test_an_unknown_kind_lists_the_kinds():
    message = refusal("foo")
    assert "'foo' is not a check; the kinds are: equals, contains, not_contains, regex" in message
    assert "not_refusal." in message


@pytest.mark.parametrize("kind", ["contains", "not_contains", "regex"])
def test_text_kinds_need_text(kind: str):
    assert f"'{kind}' needs text as its value." in refusal(kind)
    assert f"'{kind}' needs text as its value." in refusal(kind, "")
    assert f"'{kind}' needs text as its value." in refusal(kind, 42)
    assert "the value is too long (2,001 characters; 2,000 at most)" in refusal(kind, "a" * 2001)


def test_a_regex_re2_cannot_compile_is_refused_with_its_reason():
    assert "'(' is not a regular expression RE2 accepts: missing ): (" in refusal("regex", "(")
    assert "RE2 accepts: invalid perl operator: (?=" in refusal("regex", "a(?=b)")


def test_a_backtracking_regex_runs_in_linear_time():
    assert not ok(check("regex", "(a+)+$"), "a" * 100_000 + "!")
    assert ok(check("regex", "(a+)+!$"), "a" * 100_000 + "!")


def test_equals_and_final_number_values_are_checked_when_given():
    assert "'equals' needs the text to compare with as its value." in refusal("equals", 42)
    assert "'final_number' needs a number, such as 42 or 1,234.5; 'many' has none." in refusal(
        "final_number", "many"
    )
    assert "'final_number' needs a number" in refusal("final_number", float("inf"))
    assert "'final_number' needs a number" in refusal("final_number", True)
    assert check("final_number", "about 42").value == "about 42"  # stored as given
    assert check("final_number", 4.5).value == 4.5


@pytest.mark.parametrize("kind", ["json", "not_truncated", "not_refusal"])
def test_kinds_without_a_value_refuse_one(kind: str):
    assert f"'{kind}' takes no value." in refusal(kind, "yes")
    assert check(kind, "").value is None


@pytest.mark.parametrize("value", [0, "abc", 100_001, -5, 2.5, True, "²", "9" * 5000])
def test_max_words_needs_a_whole_number_in_range(value: Any):
    assert "'max_words' needs a whole number of words from 1 to 100,000." in refusal(
        "max_words", value
    )


def test_a_schema_must_be_an_object():
    assert "'schema' needs a JSON Schema: an object" in refusal("schema", "{}")
    assert "'schema' needs a JSON Schema: an object" in refusal("schema")


def test_a_schema_too_deep_is_refused():
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(25):
        deep = {"items": deep}
    assert "The JSON Schema is nested too deeply (20 levels at most)." in refusal("schema", deep)


def test_a_schema_too_large_is_refused():
    large = {"enum": ["x" * 100] * (SCHEMA_MAX_CHARS // 100)}
    assert "The JSON Schema is too large (" in refusal("schema", large)
    assert "characters; 20,000 at most)." in refusal("schema", large)


def test_an_invalid_schema_says_what_is_wrong():
    message = refusal("schema", {"type": "foo"})
    assert "The JSON Schema is not valid: 'foo' is not valid under any of the given schemas" in (
        message
    )
    assert "The JSON Schema is not valid: 5 is not of type 'string'" in refusal(
        "schema", {"$schema": 5}
    )


def test_a_schema_pattern_re2_cannot_compile_is_refused():
    message = refusal("schema", {"properties": {"a": {"pattern": "(?<=x)y"}}})
    assert "The JSON Schema's pattern '(?<=x)y' is not a regular expression RE2 accepts" in message
    assert "RE2 accepts: missing ): (" in refusal("schema", {"patternProperties": {"(": {}}})
    # A pattern-shaped key inside data is not a pattern.
    assert check("schema", {"const": {"pattern": "("}}).value == {"const": {"pattern": "("}}


def test_unevaluated_keywords_are_refused():
    message = refusal("schema", {"type": "object", "unevaluatedProperties": False})
    assert "The JSON Schema uses unevaluatedProperties, which is not supported here" in message


def test_extra_fields_are_refused():
    with pytest.raises(ValidationError):
        Check.model_validate({"kind": "json", "weight": 2})


# No fetching.


def test_a_remote_ref_fails_the_check_without_touching_the_network(monkeypatch):
    attempts: list[object] = []

    def no_network(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    remote = check("schema", {"$ref": "https://example.com/s.json"})
    assert not ok(remote, "{}")
    assert not ok(check("schema", {"$ref": "#/$defs/missing"}), "{}")
    # The drafts' own meta-schemas are bundled: referring to one needs no network either.
    meta = check("schema", {"$ref": "https://json-schema.org/draft/2020-12/schema"})
    assert ok(meta, '{"type": "string"}')
    assert attempts == []


# describe.


def test_describe_fills_in_the_value():
    assert describe(check("contains", "Paris")) == "The answer contains “Paris” (case-sensitive)."
    assert "equals the expected answer" in describe(check("equals"))
    assert "The last number in the answer equals 1,234 " in describe(check("final_number", 1234))
    assert describe(check("schema", PERSON)) == "The answer is JSON that matches the JSON Schema."
    assert describe(check("max_words", 50)) == "The answer has at most 50 words."
    long = describe(check("contains", "word " * 100))
    assert "…”" in long and len(long) < 120
    assert "\n" not in describe(check("regex", "a\nb"))
    assert all(describe(c) for c in every_check())


# Open-ended text.


@given(st.text(max_size=200), st.sampled_from(every_check()))
def test_any_answer_gets_a_yes_or_no(text: str, c: Check):
    assert passes(c, Answer(text), expected="42") in (True, False)


@given(st.text(max_size=100))
def test_an_answer_equals_itself(text: str):
    assert (
        ok(check("equals", text), f"  {text.upper()} ")
        or not text.strip()
        or (text.upper().casefold() != text.casefold())
    )


def test_long_answers_are_checked():
    long = "The answer is " + "very " * 40_000 + "long: 42."
    assert len(long) > 200_000
    results = [passes(c, Answer(long), "42") for c in every_check()]
    assert results == [False, True, True, True, True, False, False, False, True, True]
