"""Shared fixtures: the fake endpoint, Knobs in-process, and Knobs on a real socket."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr

from app.main import create_app
from app.settings import Settings
from app.storage.store import RunStore
from app.web.services import Services
from tests.fake_upstream import FakeUpstream

# No per-example deadline: these machines are noisy, and a slow example is not a wrong one.
hypothesis_settings.register_profile("knobs", deadline=None)
hypothesis_settings.load_profile("knobs")

# The server's key in every test app: it must never show up anywhere a user can see.
CANARY_KEY = "sk-test-canary-key"
# Set by `make test` (scripts/test-deps), which brings everything the suite needs: there a
# skip means something is missing, so the test fails rather than quietly not running.
NO_SKIPS = "KNOBS_TEST_NO_SKIPS"


def _fail_if_skipped(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get(NO_SKIPS):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and `make test` skips nothing ({NO_SKIPS}=1): {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport() -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_if_skipped(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report() -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_if_skipped(report)
    return report


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeUpstream) -> Iterator[FakeUpstream]:
    """The fake endpoint, with default behaviour and no recorded requests."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


def settings_for(base_url: str | None, data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test app. Retries are off unless a test turns them on: error tests
    then see the error at once instead of after the backoff."""
    # TestClient's requests name the host "testserver": allowed like any name an operator
    # lists (tests/test_hosts.py checks the refusal of names that are not).
    values: dict[str, object] = {"upstream_retries": 0, "hosts": "testserver", **overrides}
    return Settings(
        openai_base_url=base_url,
        openai_api_key=SecretStr(CANARY_KEY),
        data_dir=data_dir,
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def app(fake: FakeUpstream, tmp_path: Path) -> FastAPI:
    return create_app(settings_for(fake.base_url, tmp_path))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


class LiveServer:
    """Knobs served by uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 180
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Knobs did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def services(of: TestClient | LiveServer) -> Services:
    """The services a running test app's lifespan built, as every request gets them."""
    state = of.app_state if isinstance(of, TestClient) else of.server.lifespan.state
    found = state["services"]
    assert isinstance(found, Services)
    return found


@pytest.fixture
def replicas(url: str) -> Iterator[tuple[RunStore, RunStore]]:
    """Two stores on one database (the module's `url` fixture), each with its own engines, as
    two replicas have."""
    first, second = RunStore(url), RunStore(url)
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
