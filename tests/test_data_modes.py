"""The data folder holds every prompt, and the database the session signing key: what Knobs
creates there is readable by its own user alone, whatever the umask; what it finds, it leaves."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.ops.embedded import EmbeddedError
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common umask, which leaves files 0644 and folders 0755 unless asked otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_folder_and_its_database_are_private(fake: FakeUpstream, tmp_path: Path):
    data = tmp_path / "srv" / "knobs"  # neither folder there yet
    with TestClient(create_app(settings_for(fake.base_url, data))) as client:
        answer = client.post("/api/compare", json={"prompt": "Hi", "presets": [{}]})
        assert answer.status_code == 200 and answer.json()["id"] is not None
        assert mode(tmp_path / "srv") == 0o700 and mode(data) == 0o700
        assert mode(data / "knobs.db") == 0o600
        # SQLite gives its write-ahead log and shared memory the database's mode.
        for companion in ("knobs.db-wal", "knobs.db-shm"):
            assert mode(data / companion) == 0o600, companion


def test_a_folder_and_database_already_there_keep_their_modes(fake: FakeUpstream, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir(mode=0o750)
    sqlite3.connect(data / "knobs.db").close()  # someone else's database, 0644 by the umask
    with TestClient(create_app(settings_for(fake.base_url, data))) as client:
        assert client.get("/readyz").status_code == 200
    assert mode(data) == 0o750 and mode(data / "knobs.db") == 0o644


def test_the_embedded_model_s_log_is_private(tmp_path: Path):
    # A model file that is not there: the server exits at once, after its log was begun.
    settings = settings_for(
        None, tmp_path, embedded_model_path=tmp_path / "none.gguf", embedded_startup_timeout=60
    )
    with pytest.raises(EmbeddedError), TestClient(create_app(settings)):
        pass
    assert mode(tmp_path / "embedded-server.log") == 0o600
