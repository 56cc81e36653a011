"""What was sent, as a person reads and reruns it: pretty JSON, curl and openai-python."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.engine.flags import Flags
from app.engine.presets import Preset
from app.engine.results import Column
from app.web import snippets

URL = "https://api.example.com/v1"
# JSON as an endpoint is sent it: any text (NUL aside: no shell argument can hold one).
TEXT = st.text(st.characters(exclude_characters="\0"))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def body_of(messages: Any, **rest: Any) -> str:
    return json.dumps({"model": "o3", "messages": messages, "stream": True, **rest})


def curl_words(command: str) -> list[str]:
    """The command's words as a POSIX shell reads them; shlex keeps a line continuation
    (backslash, newline) as a word of its own, which the shell drops."""
    words = shlex.split(command)
    return [w for w in words[:-1] if w != "\n"] + words[-1:]


@given(JSON_VALUES)
def test_the_curl_body_is_the_sent_text_byte_for_byte(content):
    sent = body_of([{"role": "user", "content": content}], top_k=5)
    words = curl_words(snippets.curl(sent, URL))
    assert words[-1].encode() == sent.encode()
    assert words[:-2] == [
        "curl",
        "-N",
        f"{URL}/chat/completions",
        "-H",
        "Authorization: Bearer $OPENAI_API_KEY",
        "-H",
        "Content-Type: application/json",
    ]


@given(TEXT)
def test_any_text_survives_the_shell_quoting(sent):
    assert curl_words(snippets.curl(sent, URL))[-1] == sent


def test_a_real_shell_passes_the_body_unchanged():
    sent = body_of([{"role": "user", "content": "it's \"$HOME\" `id` \\\n $(x) ' \\"}])
    command = snippets.curl(sent, None)
    # `curl` here is a function that prints its last argument: the shell does the quoting.
    script = 'curl() { for last; do :; done; printf %s "$last"; }\n' + command
    shown = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    assert shown == sent.encode()
    assert '"$OPENAI_BASE_URL/chat/completions"' in command


@given(JSON_VALUES)
def test_the_python_snippet_compiles_and_holds_the_same_body(content):
    sent = body_of([{"role": "user", "content": content}], temperature=0.5, top_k=3)
    code = snippets.python(sent, URL)
    tree = ast.parse(code)
    compile(tree, "<snippet>", "exec")
    (assigned,) = [n for n in tree.body if isinstance(n, ast.Assign) and _named(n, "body")]
    if isinstance(assigned.value, ast.Call):  # json.loads("…"): the exact text, parsed
        assert json.loads(ast.literal_eval(assigned.value.args[0])) == json.loads(sent)
    else:
        assert ast.literal_eval(assigned.value) == json.loads(sent)
    assert 'os.environ["OPENAI_API_KEY"]' in code and f"base_url={URL!r}" in code


def _named(node: ast.Assign, name: str) -> bool:
    return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


def test_a_body_python_cannot_write_as_a_literal_is_parsed_from_its_text():
    sent = '{"model": "m", "messages": [], "temperature": 1e999}'  # infinity
    code = snippets.python(sent, None)
    assert f"json.loads({sent!r})" in code and code.startswith("import json\n")
    assert 'base_url=os.environ["OPENAI_BASE_URL"]' in code
    compile(code, "<snippet>", "exec")


def test_pretty_indents_json_and_leaves_anything_else_as_it_is():
    assert snippets.pretty('{"a":[1,"é"]}') == '{\n  "a": [\n    1,\n    "é"\n  ]\n}'
    assert snippets.pretty("not json") == "not json"


def test_the_base_url_is_the_columns_endpoint_without_credentials():
    def column(**preset: Any) -> Column:
        return Column(preset=Preset(**preset), samples=[], flags=Flags(), endpoint="local")

    urls = {"local": "http://user:secret@127.0.0.1:8080/v1/", "openai": URL}
    assert snippets.base_url(column(), urls) == "http://127.0.0.1:8080/v1"
    assert snippets.base_url(column(base_url="https://mine.example/v1"), urls) == (
        "https://mine.example/v1"
    )
    assert snippets.base_url(column(), {"openai": URL}) is None  # an endpoint since removed
    assert snippets.base_url(column(), None) is None
