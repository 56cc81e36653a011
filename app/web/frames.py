"""Server-Sent Events frames, as the live views (comparisons and sweeps) write them."""

from __future__ import annotations

import re

from fastapi.templating import Jinja2Templates

# A comment frame: the browser ignores it, and writing it is how a departed client is
# noticed (and a proxy kept from timing the stream out).
HEARTBEAT = ": still working\n\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def frame(event: str, data: str) -> str:
    """One SSE frame; every line of data gets its own `data:` field."""
    lines = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return f"event: {event}\n{lines}\n"


def render(templates: Jinja2Templates, name: str, **context: object) -> str:
    return templates.get_template(name).render(**context)


def end_frame(templates: Jinja2Templates, message: str) -> str:
    """The `done` frame of a live view that ends without a result: `message` says why."""
    return frame("done", render(templates, "_status.html", message=message, stopped=True))
