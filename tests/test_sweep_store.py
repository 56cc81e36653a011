"""Saved sweeps in SQLite and PostgreSQL: read back whole, listed newest first, deleted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app.engine.presets import Preset
from app.engine.results import Comparison
from app.engine.sweeps.definition import SweepRequest
from app.storage.store import RunStore
from app.storage.sweeps import SWEEPS, SavedSweep, SweepStore
from tests.sample_runs import column, sample
from tests.test_store import url  # noqa: F401 - the SQLite and PostgreSQL databases


@pytest.fixture
def sweeps(url: str) -> Iterator[SweepStore]:  # noqa: F811
    runs = RunStore(url)
    yield SweepStore(runs)
    runs.close()


def a_sweep(prompt: str = "Name a colour.") -> SavedSweep:
    request = SweepRequest.model_validate(
        {"prompt": prompt, "samples": 2, "vary": [{"knob": "top_k", "values": [1, 40]}]}
    )
    sweep = request.comparison()
    columns = [column(p, [sample("red"), sample("blue")]) for p in sweep.presets]
    return SavedSweep.from_comparison(sweep, Comparison(prompt=prompt, columns=columns))


def test_a_saved_sweep_reads_back_whole(sweeps: SweepStore):
    sweep = a_sweep()
    sweep_id = sweeps.save(sweep)
    back = sweeps.get(sweep_id)
    assert back == sweep.model_copy(update={"id": sweep_id})
    assert back.points[1].values == {"top_k": 40}
    assert back.points[1].column.preset == Preset(name="top_k=40", top_k=40)


def test_sweeps_are_listed_newest_first_and_deleted(sweeps: SweepStore):
    ids = [sweeps.save(a_sweep(f"prompt {i}")) for i in range(3)]
    listed, total = sweeps.list_sweeps(1, 2)
    assert total == 3
    assert [s.id for s in listed] == ids[:0:-1]
    assert listed[0].knobs == ["top_k"] and listed[0].points == 2 and listed[0].samples == 2
    assert sweeps.delete(ids[0]) and not sweeps.delete(ids[0])
    assert sweeps.get(ids[0]) is None
    assert sweeps.get("../etc") is None


def test_the_migrated_table_is_the_one_the_store_queries(sweeps: SweepStore):
    columns = [c["name"] for c in sa.inspect(sweeps.runs.engine).get_columns("sweeps")]
    assert columns == [c.name for c in SWEEPS.c]
