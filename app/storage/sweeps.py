"""Saved sweeps: a finished sweep as stored, its history and its CSV.

Sweeps live beside runs, in the same database and through the same connections
(app/storage/store.py): a table of their own (migration m008), the whole sweep as JSON plus
the columns the history lists. Each point keeps its column exactly as a comparison's, so
the point view, the JSON and the CSV are those of a saved run (`as_run`).
"""

from __future__ import annotations

import json
import secrets

import sqlalchemy as sa
from anyio.to_thread import run_sync
from pydantic import BaseModel, Field, computed_field

from app.engine.presets import Preset
from app.engine.results import Column, Comparison
from app.engine.sweeps.definition import SweepComparison, Value, Vary, point_label
from app.engine.sweeps.measures import PointStats, point_stats
from app.storage import exports
from app.storage.saved import SavedRun, excerpt, models_of, utc_now
from app.storage.store import ID_BYTES, RunStore, history_page, valid_id

SWEEPS = sa.Table(
    "sweeps",
    sa.MetaData(),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64)),
    sa.Column("created_at", sa.String(40)),
    sa.Column("prompt_excerpt", sa.Text),
    sa.Column("knobs", sa.Text),
    sa.Column("points", sa.Integer),
    sa.Column("samples", sa.Integer),
    sa.Column("stopped", sa.Boolean),
    sa.Column("body", sa.Text),
    sa.Column("author", sa.String(200)),
)


class SweepPoint(BaseModel):
    """One point: the values of the varied knobs, and its column as a comparison has it."""

    values: dict[str, Value] = Field(description="the varied knobs' values at this point")
    column: Column = Field(description="the same shape as a comparison's column")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stats(self) -> PointStats:
        """What the chart plots, derived from the column (never stored apart from it)."""
        return point_stats(self.column)

    @property
    def label(self) -> str:
        return point_label(self.values)


def sweep_points(sweep: SweepComparison, comparison: Comparison) -> list[SweepPoint]:
    """Each point of `sweep` with the column the comparison ran for it."""
    return [
        SweepPoint(values=values, column=column)
        for values, column in zip(sweep.points(), comparison.columns, strict=True)
    ]


class SavedSweep(BaseModel):
    """Everything a sweep's permalink shows; its JSON is the `.json` export."""

    id: str = ""
    created_at: str = Field(default_factory=utc_now, description="UTC, ISO 8601")
    system: str | None = None
    prompt: str
    samples: int
    base: Preset
    vary: list[Vary]
    points: list[SweepPoint]
    stopped: bool = False
    author: str | None = Field(default=None, description="who ran it, when sign-in is on")

    @classmethod
    def from_comparison(
        cls,
        sweep: SweepComparison,
        comparison: Comparison,
        *,
        stopped: bool = False,
        author: str | None = None,
    ) -> SavedSweep:
        return cls.of(sweep, sweep_points(sweep, comparison), stopped=stopped, author=author)

    @classmethod
    def of(
        cls,
        sweep: SweepComparison,
        points: list[SweepPoint],
        *,
        stopped: bool = False,
        author: str | None = None,
    ) -> SavedSweep:
        """The sweep with these points: all of them, or those finished so far."""
        return cls(
            system=sweep.system,
            prompt=sweep.prompt,
            samples=sweep.samples,
            base=sweep.base,
            vary=sweep.vary,
            points=points,
            stopped=stopped,
            author=author,
        )

    @property
    def knobs(self) -> list[str]:
        return [v.knob for v in self.vary]

    def as_run(self) -> SavedRun:
        """The sweep as a saved run with a column per point, for the run's own views."""
        run = SavedRun(
            id=self.id,
            created_at=self.created_at,
            system=self.system,
            prompt=self.prompt,
            samples=self.samples,
            columns=[p.column for p in self.points],
            stopped=self.stopped,
            author=self.author,
        )
        run.models = models_of(run)
        return run


class SweepSummary(BaseModel):
    """One row of the sweeps' history."""

    id: str
    created_at: str
    prompt_excerpt: str
    knobs: list[str]
    points: int
    samples: int
    stopped: bool = False
    author: str | None = None


def to_csv(sweep: SavedSweep) -> str:
    """One row per point x sample, as a run's CSV: `run_id` is the sweep's id, `column` the
    point's number and the varied knobs are in their own knob columns."""
    return exports.to_csv(sweep.as_run())


class SweepStore:
    """Save, read, list and delete sweeps, in the run store's database."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs

    def save(self, sweep: SavedSweep) -> str:
        """Store the sweep under a new random id; committed before the id is returned."""
        sweep_id = secrets.token_urlsafe(ID_BYTES)
        stored = sweep.model_copy(update={"id": sweep_id})
        row = {
            "id": sweep_id,
            "created_at": stored.created_at,
            "prompt_excerpt": excerpt(stored.prompt),
            "knobs": json.dumps(stored.knobs),
            "points": len(stored.points),
            "samples": stored.samples,
            "stopped": stored.stopped,
            "body": stored.model_dump_json(),
            "author": stored.author,
        }
        # The run store's own connection: same database, same outage handling.
        with self.runs.connection(write=True) as conn:
            conn.execute(sa.insert(SWEEPS).values(row))
        return sweep_id

    async def save_sweep(self, sweep: SavedSweep) -> str:
        return await run_sync(self.save, sweep)

    def get(self, sweep_id: str) -> SavedSweep | None:
        if not valid_id(sweep_id):
            return None
        with self.runs.connection() as conn:
            body = conn.scalar(sa.select(SWEEPS.c.body).where(SWEEPS.c.id == sweep_id))
        return None if body is None else SavedSweep.model_validate_json(body)

    def list_sweeps(
        self, page: int = 1, per_page: int = 20, author: str | None = None
    ) -> tuple[list[SweepSummary], int]:
        """One page of summaries, newest first (only `author`'s, if named), and how many."""
        with self.runs.connection() as conn:
            rows, total = history_page(conn, SWEEPS, page, per_page, author)
        summaries = [
            SweepSummary.model_validate({**row, "knobs": json.loads(row["knobs"])}) for row in rows
        ]
        return summaries, total

    def delete(self, sweep_id: str) -> bool:
        if not valid_id(sweep_id):
            return False
        with self.runs.connection(write=True) as conn:
            return conn.execute(sa.delete(SWEEPS).where(SWEEPS.c.id == sweep_id)).rowcount > 0
