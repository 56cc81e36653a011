"""Knobs started exactly as it ships: the Dockerfile's CMD (or `make run`'s command), read from
those files, with uvicorn's defaults (proxy headers on, trusting 127.0.0.1), on a free port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import CANARY_KEY
from tests.fake_upstream import FakeUpstream
from tests.test_durability import ROOT, free_port, wait_until_up


def dockerfile_command() -> list[str]:
    """The image's CMD, as the Dockerfile says it (exec form)."""
    text = (ROOT / "Dockerfile").read_text()
    found = re.findall(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert len(found) == 1, "the Dockerfile should have one CMD, in exec form"
    return list(json.loads(found[0]))


def make_run_command() -> list[str]:
    """What `make run` runs, its `$(BIN)/` dropped."""
    text = (ROOT / "Makefile").read_text()
    line = re.search(r"^run:.*\n\t(.+)$", text, re.MULTILINE)
    assert line is not None, "the Makefile should have a run target"
    return line.group(1).replace("$(BIN)/", "").split()


def on_port(command: list[str], port: int) -> list[str]:
    """`command` with its --port replaced; run by this Python, as `python -m uvicorn`."""
    assert command[0] == "uvicorn" and "--port" in command, command
    at = command.index("--port")
    return [sys.executable, "-m", *command[: at + 1], str(port), *command[at + 2 :]]


@contextmanager
def serving(
    tmp_path: Path, fake: FakeUpstream, command: list[str] | None = None, **env: str
) -> Iterator[str]:
    """Knobs on the fake endpoint, started by `command` (the Dockerfile's CMD unless given),
    logging to tmp_path/knobs.log; its URL on 127.0.0.1."""
    port = free_port()
    log = tmp_path / "knobs.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("KNOBS_", "OPENAI_"))}
    environment.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own default: 127.0.0.1 and ::1
    environment |= dict(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY=CANARY_KEY)
    environment |= dict(KNOBS_DATA_DIR=str(tmp_path / "data"), **env)
    argv = on_port(command or dockerfile_command(), port)
    with log.open("wb") as out:
        server = subprocess.Popen(argv, cwd=ROOT, env=environment, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=40)
