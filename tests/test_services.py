"""The services stand without any HTTP request: built as start-up builds them, they run a
comparison and a sweep for a caller and save both, as a task that outlives its tab will."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.presets import CompareRequest, Preset
from app.engine.sweeps.definition import SweepRequest
from app.guard.limits import TooManyComparisons
from app.main import started
from app.web.comparisons import Caller
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream

CALLER = Caller(author="dana", client="203.0.113.9")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_comparison_runs_and_is_saved_with_no_request(fake: FakeUpstream, tmp_path: Path):
    settings = settings_for(fake.base_url, tmp_path, rate_limit_per_minute=2)
    async with started(settings) as services:
        compare = CompareRequest(
            prompt="Name a colour.", samples=2, presets=[Preset(name="Cold", temperature=0)]
        )
        assert services.comparisons.problems(compare) == {}
        finished = await services.comparisons.run(compare, CALLER)
        assert finished.run_id is not None and finished.not_saved is None
        saved = services.store.get(finished.run_id)
        assert saved is not None and saved.author == "dana" and saved.prompt == "Name a colour."
        assert len(saved.columns[0].samples) == 2
        assert len(fake.requests) == 2
        # Its limits charge the caller's address, as a request's would.
        await services.comparisons.run(compare, CALLER)
        with pytest.raises(TooManyComparisons):
            await services.comparisons.run(compare, CALLER)
        assert services.limiter.inflight == 0


@pytest.mark.anyio
async def test_a_sweep_is_its_own_kind_caps_and_saving(fake: FakeUpstream, tmp_path: Path):
    async with started(settings_for(fake.base_url, tmp_path)) as services:
        body = SweepRequest.model_validate(
            {
                "prompt": "Name a colour.",
                "samples": 1,
                "vary": [{"knob": "temperature", "values": [0, 1]}],
            }
        )
        sweep = body.comparison()
        finished = await services.sweep_runs.run(sweep, CALLER)
        assert finished.run_id is not None
        saved = services.sweeps.get(finished.run_id)
        assert saved is not None and saved.author == "dana" and len(saved.points) == 2
        assert services.store.get(finished.run_id) is None  # a sweep, not a run
        too_long = sweep.model_copy(update={"prompt": "x" * 60_000})
        assert "prompt" in services.sweep_runs.problems(too_long)
