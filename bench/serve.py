"""The processes a bench talks to over loopback: the fake endpoint, steered through a pipe, and
Knobs under uvicorn in a process of its own."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx2

from tests.fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60


def serve_fake(conn: Connection, behaviour: dict[str, Any]) -> None:
    """The fake endpoint's process: serve, and answer the parent's commands on `conn`."""
    with FakeUpstream() as fake:
        fake.behave(**behaviour)
        conn.send(fake.base_url)
        while (command := conn.recv()) != "stop":
            if command == "reset":
                fake.reset()  # counters and behaviours: hence behave() again
                fake.behave(**behaviour)
                conn.send(None)
            elif command == "in_flight":
                conn.send(fake.in_flight)
            elif command == "stats":
                bodies = [r.body for r in fake.requests]
                conn.send({"max_in_flight": fake.max_in_flight, "bodies": bodies})


class FakeProcess:
    """tests.fake_upstream.FakeUpstream in a process of its own, steered through a pipe."""

    def __init__(self, behaviour: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve_fake, args=(child, behaviour), daemon=True)
        self.process.start()
        if not self.conn.poll(30):
            self.stop()
            raise RuntimeError("the fake endpoint did not start within 30 s")
        self.base_url: str = self.conn.recv()
        assert self.process.pid is not None
        self.pid: int = self.process.pid

    def ask(self, command: str) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.process.join(timeout=20)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (nan where /proc cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def knobs_env(fake: FakeProcess, data_dir: str, settings: dict[str, int]) -> dict[str, str]:
    """This environment without Knobs' own variables, so that Knobs runs at its defaults except
    for `settings` (by setting name), with the fake as its endpoint and a fresh data dir."""
    ours = ("KNOBS_", "OPENAI_", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="not-a-key",  # the fake checks no key
        KNOBS_DATA_DIR=data_dir,
    )
    env.update({f"KNOBS_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def knobs_command(port: int, profile: Path | None = None) -> list[str]:
    """uvicorn serving Knobs on 127.0.0.1:`port`; with `profile`, under cProfile, whose stats
    are written there when it stops."""
    python = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
    return [
        *python,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "5",
    ]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for uvicorn (a graceful shutdown), then kill if it takes too long."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = READY_TIMEOUT) -> None:
    """Until GET /healthz answers 200 (Knobs' lifespan has run). Synchronous, so that it
    serves async benches (through asyncio.to_thread) and Playwright's thread alike."""
    deadline = time.monotonic() + seconds
    with httpx2.Client() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"Knobs exited with {proc.returncode} before it was ready")
            with contextlib.suppress(httpx2.TransportError):
                if client.get(f"{url}/healthz").status_code == 200:
                    return
            time.sleep(0.05)
    raise RuntimeError(f"Knobs was not ready within {seconds:g} s")
