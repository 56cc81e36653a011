"""What a column sent, for a person to read and to run again: the JSON pretty-printed, a
`curl` command and an openai-python snippet. Pure functions of the exact body text.

The key is never in them: curl reads `$OPENAI_API_KEY` and Python `os.environ`. Where the
endpoint's URL is not known here, both read `$OPENAI_BASE_URL` instead.
"""

from __future__ import annotations

import ast
import json
import pprint
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.engine.endpoints import Upstreams
from app.engine.results import Column

KEY_ENV = "OPENAI_API_KEY"
BASE_ENV = "OPENAI_BASE_URL"
_CONTINUE = " \\\n  "
_STREAM = """for chunk in stream:
    if chunk.choices:  # the last chunk carries only the usage
        print(chunk.choices[0].delta.content or "", end="", flush=True)
print()
"""


def endpoint_urls(upstreams: Upstreams) -> dict[str, str]:
    """Each configured endpoint's base URL, by name, for `base_url`."""
    return {name: u.endpoint.base_url for name, u in upstreams.by_name.items()}


def base_url(column: Column, urls: Mapping[str, str] | None) -> str | None:
    """Where the column's requests went: its own endpoint's URL, else the configured one of
    that name; None when it is not known (an endpoint since removed, or no list given)."""
    url = column.preset.base_url or (urls or {}).get(column.endpoint or "")
    if not url:
        return None
    # A user:password in the URL is a credential too: never shown.
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)).rstrip("/")


def pretty(sent: str) -> str:
    """The body indented for reading; as it is when it is not JSON."""
    try:
        return json.dumps(json.loads(sent), indent=2, ensure_ascii=False)
    except ValueError:
        return sent


def curl(sent: str, url: str | None) -> str:
    """A curl command that sends `sent` byte for byte (the last argument, shell-quoted)."""
    where = shlex.quote(f"{url}/chat/completions") if url else f'"${BASE_ENV}/chat/completions"'
    args = [
        f"curl -N {where}",
        f'-H "Authorization: Bearer ${KEY_ENV}"',
        "-H 'Content-Type: application/json'",
        f"--data-binary {shlex.quote(sent)}",
    ]
    return _CONTINUE.join(args)


def python(sent: str, url: str | None) -> str:
    """An openai-python snippet that sends the same body and prints the streamed answer.
    The body goes as the extra body, as Knobs sends it, so that parameters the SDK does not
    know (top_k) are sent too."""
    where = repr(url) if url else f'os.environ["{BASE_ENV}"]'
    body, imports = _literal(sent)
    return (
        f"{imports}import os\n\nfrom openai import OpenAI\n\n"
        f'client = OpenAI(base_url={where}, api_key=os.environ["{KEY_ENV}"])\n'
        f"body = {body}\n"
        "stream = client.chat.completions.create(\n"
        '    model=body.pop("model"),\n'
        '    messages=body.pop("messages"),\n'
        '    stream=body.pop("stream", False),\n'
        "    extra_body=body,\n"
        ")\n" + _STREAM
    )


def _literal(sent: str) -> tuple[str, str]:
    """The body as a Python literal, and the imports it needs: a dict to read where that
    gives back the same value, else the exact text parsed at run time."""
    try:
        data: Any = json.loads(sent)
        shown = pprint.pformat(data, indent=1, width=88, sort_dicts=False)
        if ast.literal_eval(shown) == data:
            return shown, ""
    except (ValueError, SyntaxError, RecursionError):
        pass
    return f"json.loads({sent!r})", "import json\n"
