"""Cases pasted the way people have them — lines, CSV from a spreadsheet, JSON Lines — and
every refusal naming the line to fix and how."""

from __future__ import annotations

import json

import pytest

from app.engine.evals.cases import (
    MAX_CASES,
    Case,
    CasesError,
    Turn,
    from_csv,
    from_jsonl,
    from_lines,
    parse_cases,
    prompt_for,
    render,
    template_vars,
)


def refusal(parse, text: str) -> CasesError:
    with pytest.raises(CasesError) as caught:
        parse(text)
    return caught.value


# Lines


def test_lines_are_one_prompt_each_blank_lines_skipped():
    cases = from_lines("  What is 2+2?\n\nName a prime.\r\n   \n")
    assert [c.prompt for c in cases] == ["What is 2+2?", "Name a prime."]
    assert all(c.messages is None and c.vars == {} for c in cases)


def test_no_lines_says_what_to_paste():
    error = refusal(from_lines, " \n\n")
    assert error.line is None
    assert str(error) == "Paste at least one case: one prompt per line."


# CSV


def test_csv_with_template_variables_expected_and_checks():
    text = "city,country,expected,contains\nParis,France,Paris,Eiffel\n\nLisbon,Portugal,Lisbon,\n"
    cases = from_csv(text)
    assert [c.vars for c in cases] == [
        {"city": "Paris", "country": "France"},
        {"city": "Lisbon", "country": "Portugal"},
    ]
    assert [c.expected for c in cases] == ["Paris", "Lisbon"]
    assert cases[0].checks == [{"kind": "contains", "value": "Eiffel"}]
    assert cases[1].checks == []  # a blank check cell is no check
    assert cases[0].prompt is None and cases[0].messages is None
    template = "What is the capital of {{ country }}? ({{city}})"
    assert prompt_for(cases[0], template) == "What is the capital of France? (Paris)"


def test_csv_with_a_prompt_column_and_a_spreadsheets_habits():
    # A byte-order mark, capitalised known columns, CRLF, an empty ",," row.
    text = "\ufeffPrompt,Expected,max_words\r\nSay hi.,hi, 5 \r\n,,\r\nSay bye.,,\r\n"
    cases = from_csv(text)
    assert [c.prompt for c in cases] == ["Say hi.", "Say bye."]
    assert [c.expected for c in cases] == ["hi", None]
    assert cases[0].checks == [{"kind": "max_words", "value": "5"}]
    assert cases[0].vars == {}


def test_semicolon_csv():
    cases = from_csv("question;expected\n2,5 + 1;3,5\n10 / 4;2,5\n")
    assert [c.vars["question"] for c in cases] == ["2,5 + 1", "10 / 4"]
    assert [c.expected for c in cases] == ["3,5", "2,5"]


def test_tab_separated_csv():
    cases = from_csv("prompt\tnote\nWhat is 1, 2, 3?\tcommas are fine\n")
    assert cases[0].prompt == "What is 1, 2, 3?"
    assert cases[0].vars == {"note": "commas are fine"}


def test_quoted_commas_quotes_and_line_breaks():
    text = (
        'prompt,expected\n"Say ""hello, world"", please.","hello, world"\n"Two\nlines",x\nLast,y\n'
    )
    cases = from_csv(text)
    assert [c.prompt for c in cases] == ['Say "hello, world", please.', "Two\nlines", "Last"]
    assert cases[0].expected == "hello, world"


def test_a_single_column_csv_of_prompts():
    cases = from_csv("prompt\nWhy is the sky blue?\nWhat is rain?\n")
    assert [c.prompt for c in cases] == ["Why is the sky blue?", "What is rain?"]


def test_a_row_with_too_many_cells_names_its_line():
    text = "prompt,expected\nfine,1\n\nWhat is 2+2, roughly?,4\n"
    error = refusal(from_csv, text)
    assert error.line == 4
    assert str(error).startswith("Line 4: This row has 3 cells but the header has 2 columns")
    assert "quotes" in str(error)


def test_a_row_after_a_multiline_cell_is_numbered_from_its_own_start():
    text = 'prompt\n"one\ntwo"\nthree,four\n'
    assert refusal(from_csv, text).line == 4


def test_header_problems_are_line_one():
    duplicate = refusal(from_csv, "prompt,city,City ,city\nx,a,b,c\n")
    assert duplicate.line == 1
    assert str(duplicate) == "Line 1: The header names 'city' twice: name each column once."
    empty = refusal(from_csv, "prompt,,expected\nx,y,z\n")
    assert empty.line == 1 and "Column 2 of the header has no name" in str(empty)
    nothing_asked = refusal(from_csv, "expected,contains\n4,4\n")
    assert nothing_asked.line == 1 and "needs a prompt column" in str(nothing_asked)


def test_a_header_without_rows():
    error = refusal(from_csv, "prompt,expected\n\n")
    assert error.line is None and "no cases" in str(error)
    assert refusal(from_csv, "\n  \n").line is None


def test_a_row_that_asks_nothing_names_its_line():
    error = refusal(from_csv, "prompt,expected\nHi,1\n,2\n")
    assert error.line == 3
    assert "needs a prompt" in str(error)


# JSON Lines


def test_jsonl_with_few_shot_messages():
    turns = [
        {"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "Capital of Japan?"},
    ]
    text = json.dumps({"messages": turns, "expected": "Tokyo", "checks": [{"kind": "equals"}]})
    [case] = from_jsonl(text + "\n")
    assert case.messages is not None and len(case.messages) == 4
    assert case.messages[0] == Turn(role="system", content="Answer with one word.")
    assert case.expected == "Tokyo" and case.checks == [{"kind": "equals"}]
    assert case.label() == "Capital of Japan?"
    assert prompt_for(case, "{{question}}") is None  # sent as its turns


def test_jsonl_dataset_rows_become_variables():
    text = "\n".join(
        [
            '{"question": "What is 2+2?", "expected": "4"}',
            "",
            '{"question": "What is 3×3?", "expected": 9, "id": 7, "tags": ["x"], "note": null}',
            '{"vars": {"question": "Half of 9?"}, "final_number": "4.5"}',
        ]
    )
    cases = from_jsonl(text)
    assert [c.vars for c in cases] == [
        {"question": "What is 2+2?"},
        {"question": "What is 3×3?", "id": "7"},  # lists and nulls cannot fill a template
        {"question": "Half of 9?"},
    ]
    assert [c.expected for c in cases] == ["4", "9", None]
    assert cases[2].checks == [{"kind": "final_number", "value": "4.5"}]
    assert [prompt_for(c, "Q: {{question}}") for c in cases][0] == "Q: What is 2+2?"


def test_jsonl_errors_name_their_line_and_field():
    not_json = refusal(from_jsonl, '{"prompt": "a"}\n\n{"prompt": "b",}\n')
    assert not_json.line == 3 and str(not_json).startswith("Line 3: not JSON:")
    not_object = refusal(from_jsonl, '["What is 2+2?"]\n')
    assert not_object.line == 1 and "one JSON object" in str(not_object)
    bad_role = refusal(from_jsonl, '{"messages": [{"role": "bot", "content": "hi"}]}')
    assert str(bad_role).startswith("Line 1: messages[0].role: ")
    ends_wrong = refusal(
        from_jsonl,
        '{"prompt": "fine"}\n'
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}',
    )
    assert str(ends_wrong) == (
        "Line 2: messages: A conversation must end with a user turn: the one to answer."
    )
    both = refusal(from_jsonl, '{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}')
    assert str(both) == "Line 1: Give a case a prompt or messages, not both."
    twice = refusal(from_jsonl, '{"vars": {"q": "a"}, "q": "b"}')
    assert "'q' is given both in vars and on its own" in str(twice)


def test_no_json_lines():
    assert "one JSON object per line" in str(refusal(from_jsonl, "\n"))


# The case itself


def test_a_conversation_has_one_system_turn_first():
    with pytest.raises(ValueError, match="one system turn, and only as its first"):
        Case.model_validate(
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "system", "content": "b"},
                    {"role": "user", "content": "c"},
                ]
            }
        )
    with pytest.raises(ValueError, match="1 to 50 turns"):
        Case.model_validate({"messages": []})


def test_a_case_with_too_many_checks_or_variables():
    with pytest.raises(ValueError, match="at most 20 checks"):
        Case(prompt="x", checks=[{"kind": "contains", "value": "a"}] * 21)
    with pytest.raises(ValueError, match="at most 50 variables"):
        Case(vars={f"v{i}": "x" for i in range(51)})


def test_labels_are_one_short_line():
    assert Case(prompt="What   is\n2+2?").label() == "What is 2+2?"
    long = Case(prompt="word " * 40).label()
    assert len(long) == 80 and long.endswith("…")
    assert Case(vars={"a": "1", "b": "2"}).label() == "a=1, b=2"


# Templates


def test_template_vars_in_order_of_first_appearance():
    assert template_vars("{{b}} and {{ a }}, then {{b}}; {{not a var}} {{1x}}") == ["b", "a"]


def test_render_fills_in_and_names_what_is_missing():
    assert render("Hi {{name}}, {{ name }}!", {"name": "Ann"}) == "Hi Ann, Ann!"
    with pytest.raises(KeyError, match="city"):
        render("{{name}} from {{city}}", {"name": "Ann"})


def test_render_inserts_values_verbatim():
    # A value holding {{x}} is text, not another variable; nothing is evaluated either.
    values = {"a": "{{b}}", "b": "B", "c": "{% for %}{{ 7*7 }}"}
    assert render("{{a}} {{b}} {{c}}", values) == "{{b}} B {% for %}{{ 7*7 }}"


def test_a_cases_own_prompt_wins_over_the_template():
    assert prompt_for(Case(prompt="Own", vars={"q": "x"}), "T {{q}}") == "Own"
    assert prompt_for(Case(vars={"q": "x"}), "T {{q}}") == "T x"
    assert prompt_for(Case(vars={"q": "x"}), None) is None


# Limits


def test_too_many_cases():
    text = "\n".join(f"Question {i}?" for i in range(MAX_CASES + 1))
    error = refusal(lambda t: parse_cases(t, "lines"), text)
    assert str(error) == f"At most {MAX_CASES} cases per eval; this has {MAX_CASES + 1}."
    assert len(parse_cases("\n".join(["q"] * MAX_CASES), "lines")) == MAX_CASES


@pytest.mark.parametrize("parse", [from_lines, from_csv, from_jsonl])
def test_too_large_a_paste(parse):
    error = refusal(parse, "x" * 2_000_001)
    assert error.line is None and "too large" in str(error)


def test_parse_cases_dispatches():
    assert parse_cases("prompt\nHi\n", "csv")[0].prompt == "Hi"
    assert parse_cases('{"prompt": "Hi"}', "jsonl")[0].prompt == "Hi"
