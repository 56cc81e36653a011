"""Real database outages for the tests: a PostgreSQL cluster of their own to stop and start
again (never the shared test server), and an SQLite data directory made truly read-only.

The tests run as root, and root ignores file permissions: `chmod a-w` changes nothing for
it. The immutable attribute (`chattr +i`, which needs CAP_LINUX_IMMUTABLE and ext4, xfs or
btrfs) binds root too, even through files it already has open: that is the one used here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> None:
    """Skip, saying why; under `make test` a skip fails (tests/conftest.py), so the suite
    cannot quietly test less."""
    pytest.skip(reason)


class PrivatePostgres:
    """A throwaway cluster made by .ci/postgres in a directory of its own, on its own port."""

    def __init__(self) -> None:
        self.dir = Path("/var/tmp") / f"knobs-outage-pg-{secrets.token_hex(4)}"
        self.data = self.dir / "data"
        self.url = ""
        self.port = 0
        # PostgreSQL refuses to run as root; .ci/postgres runs it as `postgres` then.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.pg_ctl = ""

    def create(self) -> None:
        env = {**os.environ, "KNOBS_TEST_PG_DIR": str(self.dir)}
        made = subprocess.run(
            ["bash", str(ROOT / ".ci" / "postgres")],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if made.returncode != 0:
            unavailable(f"could not start a private PostgreSQL (.ci/postgres):\n{made.stderr}")
        self.url = made.stdout.strip()
        self.port = sa.make_url(self.url).port or 5432
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=_version)
        self.pg_ctl = str(versions[-1])

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Start it again on the same port, as .ci/postgres does, so the app's URL holds."""
        log = str(self.dir / "server.log")
        self._pg_ctl("-l", log, "-o", f"-p {self.port}", "-w", "-t", "60", "start")

    @contextmanager
    def down(self) -> Iterator[None]:
        """Stopped for the block, running again after it (whatever the block did)."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def destroy(self) -> None:
        if self.pg_ctl and (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        command = [*self.as_owner, self.pg_ctl, "-D", str(self.data), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def _version(pg_ctl: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in pg_ctl.parent.parent.name.split(".") if part.isdigit())


@contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """`directory` and the SQLite files in it immutable for the block, writable after it.

    SQLite's -shm file is left alone: it is memory-mapped, and a write to an immutable
    mapping kills the process with SIGBUS. The database, its WAL and the folder are enough:
    every write then fails, through connections already open ("disk I/O error") and new
    ones ("attempt to write a readonly database").
    """
    targets = [directory, *(p for p in directory.glob("*.db*") if not p.name.endswith("-shm"))]
    names = [str(p) for p in targets]
    made = subprocess.run(["chattr", "+i", *names], capture_output=True, text=True, check=False)
    try:
        if made.returncode != 0:
            unavailable(f"making a directory read-only for root needs `chattr +i`: {made.stderr}")
        # The fault is real: a connection of our own cannot write either.
        with (
            closing(sqlite3.connect(directory / "knobs.db")) as probe,
            pytest.raises(sqlite3.OperationalError, match="readonly"),
        ):
            probe.execute("CREATE TABLE probe (x)")
        yield
    finally:
        subprocess.run(["chattr", "-i", *names], capture_output=True, check=made.returncode == 0)
