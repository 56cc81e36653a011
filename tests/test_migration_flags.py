"""m005: the history's counts of the reasoning-model flags, backfilled for runs saved before."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from app.engine.presets import Preset
from app.storage import migrations
from app.storage.keys import session_key
from app.storage.saved import COUNTED, RunSummary
from app.storage.store import RUNS, RunStore, engine_url
from tests import test_store
from tests.sample_runs import column, make_run, sample

NEW = ("setting_refused", "refused", "reasoning_budget")


url = test_store.url  # an empty SQLite file, or a new PostgreSQL schema


def test_runs_saved_before_m005_get_their_counts(url: str, tmp_path: Path):
    (tmp_path / "data").mkdir(exist_ok=True)
    refused = column(Preset(name="Cold", temperature=0), [sample("", refusal="No.")])
    refused.flags = refused.flags.model_copy(update={"setting_refused": True, "refused": True})
    budget = column(Preset(name="Tight", max_tokens=3), [sample("", finish_reason="length")])
    budget.flags = budget.flags.model_copy(update={"reasoning_budget": True, "truncated": True})
    run = make_run(columns=[refused, budget, budget])
    run.id = "Old" + "x" * 19
    engine = sa.create_engine(engine_url(url))
    index = [m.__name__ for m in migrations.MIGRATIONS].index("m005_reasoning_flags")
    migrations.migrate(engine, upto=index)
    old = sa.table("runs", *(sa.column(c.name) for c in RUNS.c if c.name not in ("seq", *NEW)))
    row: dict[str, object] = dict(
        id=run.id, created_at=run.created_at, prompt_excerpt="old", preset_names="[]"
    )
    row |= dict(models="[]", samples=1, stopped=False, failed=0, body=run.model_dump_json())
    row |= {kind: 0 for kind in ("truncated", "nondeterministic", "unexpected", "drift")}
    with engine.begin() as conn:
        conn.execute(sa.insert(old).values(row))
    engine.dispose()

    store = RunStore(url)  # migrates the rest at start-up
    try:
        (summary,), _ = store.list_runs()
        assert (summary.setting_refused, summary.refused, summary.reasoning_budget) == (1, 1, 2)
        # A run saved now is counted the same way, from its flags.
        again = store.save(run)
        counted = {s.id: s for s in store.list_runs()[0]}[again]
        assert counted.model_dump(include=set(NEW)) == summary.model_dump(include=set(NEW))
    finally:
        store.close()


def test_every_counted_flag_is_a_column_and_a_summary_field():
    assert set(COUNTED) <= {c.name for c in RUNS.c} & set(RunSummary.model_fields)


def test_runs_saved_before_m006_were_anonymous_and_a_session_key_is_made(url: str, tmp_path: Path):
    (tmp_path / "data").mkdir(exist_ok=True)
    engine = sa.create_engine(engine_url(url))
    index = [m.__name__ for m in migrations.MIGRATIONS].index("m006_access")
    migrations.migrate(engine, upto=index)
    old = sa.table("runs", *(sa.column(c.name) for c in RUNS.c if c.name not in ("seq", "author")))
    run = make_run()
    row = {c.name: 0 for c in old.c} | dict(id="Old" + "y" * 19, created_at=run.created_at)
    row |= dict(prompt_excerpt="old", preset_names="[]", models="[]", stopped=False)
    row |= dict(body=run.model_dump_json())
    with engine.begin() as conn:
        conn.execute(sa.insert(old).values(row))
    engine.dispose()
    store = RunStore(url)
    try:
        assert [r.author for r in store.list_runs()[0]] == ["anonymous"]
        assert store.list_runs(author="anonymous")[1] == 1 and store.list_runs(author="x")[1] == 0
        assert len(session_key(store.engine)) == 64
    finally:
        store.close()
