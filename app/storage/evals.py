"""Saved evals: what was asked, how far it got, and each finished cell as it finished.

An eval is written when it starts (status "running", the process that runs it, a heartbeat)
and each cell (a case under a preset, all its samples) is a row of its own, inserted when the
cell finishes: any replica shows the progress from here, and a crash loses only the cells in
flight. The runner beats every HEARTBEAT_SECONDS; "running" without a beat for STALE_SECONDS is
shown as interrupted, and Resume (on any replica) claims it with one conditional update, so
two replicas cannot both resume it. Stop is a flag the runner reads back with each beat.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from anyio.to_thread import run_sync
from pydantic import BaseModel, Field

from app.engine.evals.definition import EvalRequest
from app.engine.evals.figures import CaseRow, Pair, PresetFigures, figures
from app.engine.results import Column
from app.storage.saved import excerpt, utc_now
from app.storage.store import ID_BYTES, RunStore, history_page, valid_id

HEARTBEAT_SECONDS = 1.0
STALE_SECONDS = 15.0
Status = Literal["running", "finished", "stopped", "interrupted"]

EVALS = sa.Table(
    "evals",
    sa.MetaData(),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64)),
    sa.Column("created_at", sa.String(40)),
    sa.Column("title", sa.Text),
    sa.Column("preset_names", sa.Text),
    sa.Column("cases", sa.Integer),
    sa.Column("samples", sa.Integer),
    sa.Column("requests", sa.Integer),
    sa.Column("status", sa.String(20)),
    sa.Column("stop_requested", sa.Boolean),
    sa.Column("runner", sa.String(64)),
    sa.Column("heartbeat", sa.Float),
    sa.Column("started", sa.Float),
    sa.Column("done_at_start", sa.Integer),
    sa.Column("body", sa.Text),
    sa.Column("author", sa.String(200)),
)
CELLS = sa.Table(
    "eval_cells",
    sa.MetaData(),
    sa.Column("eval_id", sa.String(64), primary_key=True),
    sa.Column("case_index", sa.Integer, primary_key=True),
    sa.Column("preset_index", sa.Integer, primary_key=True),
    sa.Column("samples", sa.Integer),
    sa.Column("column_json", sa.Text),
)


@dataclass(frozen=True)
class Progress:
    done: int  # samples answered (failed ones too)
    total: int
    eta_seconds: float | None  # at this stretch's pace; None before there is one


class StoredEval(BaseModel):
    """An eval as stored: the request, its state, and the cells finished so far."""

    id: str
    created_at: str
    author: str | None = None
    status: Status
    stop_requested: bool = False
    request: EvalRequest
    cells: dict[str, Column]  # "case:preset" -> the cell's column, as a comparison has it
    started: float
    done_at_start: int

    def cell_map(self) -> dict[tuple[int, int], Column]:
        found = {}
        for key, column in self.cells.items():
            case, preset = key.split(":")
            found[int(case), int(preset)] = column
        return found

    @property
    def done(self) -> int:
        return sum(len(column.samples) for column in self.cells.values())

    def progress(self, now: float | None = None) -> Progress:
        total = self.request.requests
        done = self.done
        eta = None
        ran = done - self.done_at_start
        if self.status == "running" and ran > 0:
            elapsed = (now or time.time()) - self.started
            eta = elapsed / ran * (total - done)
        return Progress(done, total, eta)

    def missing(self) -> list[tuple[int, list[int]]]:
        """Each case with a preset not yet answered, and those presets: what Resume runs."""
        have = self.cell_map()
        presets = range(len(self.request.presets))
        found = []
        for case in range(len(self.request.cases)):
            todo = [p for p in presets if (case, p) not in have]
            if todo:
                found.append((case, todo))
        return found


class EvalSummary(BaseModel):
    """One row of the evals' history."""

    id: str
    created_at: str
    title: str
    preset_names: list[str]
    cases: int
    samples: int
    requests: int
    status: Status
    author: str | None = None


def _status(row: sa.RowMapping | dict[str, object], now: float) -> Status:
    status = str(row["status"])
    heartbeat = row["heartbeat"]
    assert isinstance(heartbeat, float | int)
    if status == "running" and now - heartbeat > STALE_SECONDS:
        return "interrupted"
    return status  # type: ignore[return-value]


class EvalStore:
    """Evals in the run store's database: create, claim, beat, save cells, read, list."""

    def __init__(self, runs: RunStore) -> None:
        self.runs = runs

    def create(self, request: EvalRequest, runner: str, author: str | None) -> str:
        eval_id = secrets.token_urlsafe(ID_BYTES)
        now = time.time()
        row = {
            "id": eval_id,
            "created_at": utc_now(),
            "title": excerpt(request.title()),
            "preset_names": json.dumps([p.title(i) for i, p in enumerate(request.presets)]),
            "cases": len(request.cases),
            "samples": request.samples,
            "requests": request.requests,
            "status": "running",
            "stop_requested": False,
            "runner": runner,
            "heartbeat": now,
            "started": now,
            "done_at_start": 0,
            "body": request.model_dump_json(),
            "author": author,
        }
        with self.runs.connection(write=True) as conn:
            conn.execute(sa.insert(EVALS).values(row))
        return eval_id

    def save_cell(self, eval_id: str, case: int, preset: int, column: Column) -> None:
        """Keep a finished cell. A cell already there (a Resume that raced) is kept as it is."""
        row = {
            "eval_id": eval_id,
            "case_index": case,
            "preset_index": preset,
            "samples": len(column.samples),
            "column_json": column.model_dump_json(),
        }
        try:
            with self.runs.connection(write=True) as conn:
                conn.execute(sa.insert(CELLS).values(row))
        except sa.exc.IntegrityError:
            pass

    def beat(self, eval_id: str, runner: str) -> bool | None:
        """The runner is alive: whether Stop was asked for; None when it no longer runs this
        eval (another process resumed it, or it was deleted)."""
        mine = (EVALS.c.id == eval_id) & (EVALS.c.runner == runner)
        with self.runs.connection(write=True) as conn:
            updated = conn.execute(
                sa.update(EVALS)
                .where(mine & (EVALS.c.status == "running"))
                .values(heartbeat=time.time())
            )
            if updated.rowcount == 0:
                return None
            return bool(conn.scalar(sa.select(EVALS.c.stop_requested).where(mine)))

    def end(self, eval_id: str, runner: str, status: Status) -> None:
        """How this stretch of running ended: finished, stopped, or interrupted (on shutdown)."""
        with self.runs.connection(write=True) as conn:
            conn.execute(
                sa.update(EVALS)
                .where((EVALS.c.id == eval_id) & (EVALS.c.runner == runner))
                .where(EVALS.c.status == "running")
                .values(status=status)
            )

    def request_stop(self, eval_id: str) -> bool:
        """Ask the runner to stop; an eval whose runner is gone is marked stopped at once.
        False when there is nothing running to stop."""
        if not valid_id(eval_id):
            return False
        now = time.time()
        with self.runs.connection(write=True) as conn:
            row = conn.execute(sa.select(EVALS).where(EVALS.c.id == eval_id)).mappings().first()
            if row is None:
                return False
            status = _status(row, now)
            if status == "running":
                conn.execute(
                    sa.update(EVALS).where(EVALS.c.id == eval_id).values(stop_requested=True)
                )
                return True
            if status == "interrupted":
                conn.execute(sa.update(EVALS).where(EVALS.c.id == eval_id).values(status="stopped"))
                return True
            return False

    def claim(self, eval_id: str, runner: str) -> StoredEval | None:
        """Take an interrupted (or stopped) eval over to run its missing cells: one
        conditional update, so that of two replicas resuming at once only one gets it."""
        if not valid_id(eval_id):
            return None
        now = time.time()
        resumable = (EVALS.c.status.in_(("interrupted", "stopped"))) | (
            (EVALS.c.status == "running") & (EVALS.c.heartbeat < now - STALE_SECONDS)
        )
        done = (
            sa.select(sa.func.coalesce(sa.func.sum(CELLS.c.samples), 0))
            .where(CELLS.c.eval_id == eval_id)
            .scalar_subquery()
        )
        with self.runs.connection(write=True) as conn:
            claimed = conn.execute(
                sa.update(EVALS)
                .where((EVALS.c.id == eval_id) & resumable)
                .values(
                    status="running",
                    stop_requested=False,
                    runner=runner,
                    heartbeat=now,
                    started=now,
                    done_at_start=done,
                )
            )
            if claimed.rowcount == 0:
                return None
        return self.get(eval_id)

    def get(self, eval_id: str) -> StoredEval | None:
        if not valid_id(eval_id):
            return None
        with self.runs.connection() as conn:
            row = conn.execute(sa.select(EVALS).where(EVALS.c.id == eval_id)).mappings().first()
            if row is None:
                return None
            cells = conn.execute(
                sa.select(CELLS.c.case_index, CELLS.c.preset_index, CELLS.c.column_json).where(
                    CELLS.c.eval_id == eval_id
                )
            ).all()
        return StoredEval(
            id=row["id"],
            created_at=row["created_at"],
            author=row["author"],
            status=_status(row, time.time()),
            stop_requested=row["stop_requested"],
            request=EvalRequest.model_validate_json(row["body"]),
            cells={f"{c}:{p}": Column.model_validate_json(body) for c, p, body in cells},
            started=row["started"],
            done_at_start=row["done_at_start"],
        )

    def list_evals(
        self, page: int = 1, per_page: int = 20, author: str | None = None
    ) -> tuple[list[EvalSummary], int]:
        """One page of summaries, newest first (only `author`'s, if named), and how many."""
        with self.runs.connection() as conn:
            rows, total = history_page(conn, EVALS, page, per_page, author)
        now = time.time()
        summaries = [
            EvalSummary.model_validate(
                {
                    **row,
                    "preset_names": json.loads(row["preset_names"]),
                    "status": _status(row, now),
                }
            )
            for row in rows
        ]
        return summaries, total

    def delete(self, eval_id: str) -> bool:
        if not valid_id(eval_id):
            return False
        with self.runs.connection(write=True) as conn:
            conn.execute(sa.delete(CELLS).where(CELLS.c.eval_id == eval_id))
            return conn.execute(sa.delete(EVALS).where(EVALS.c.id == eval_id)).rowcount > 0

    # Async callers: off the event loop.
    async def aget(self, eval_id: str) -> StoredEval | None:
        return await run_sync(self.get, eval_id)


class ProgressView(BaseModel):
    done: int = Field(description="samples answered so far")
    total: int = Field(description="cases × presets × samples")
    eta_seconds: float | None = Field(description="at this stretch's pace; null when unknown")


class EvalView(BaseModel):
    """An eval as its permalink, `GET /api/evals/{id}` and the `.json` export show it: the
    figures computed from the cells now, with the checks as they are now."""

    id: str
    created_at: str
    author: str | None = None
    name: str | None = None
    status: Status
    progress: ProgressView
    samples: int
    presets: list[PresetFigures]
    cases: list[CaseRow]
    pairs: list[Pair]
    definition: EvalRequest = Field(description="what was asked: cases, checks, presets")

    @property
    def prompt(self) -> str:
        """The eval's title: what the history and the delete page call it."""
        return self.definition.title()

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def resumable(self) -> bool:
        return (
            self.status in ("interrupted", "stopped") and self.progress.done < self.progress.total
        )


def eval_view(stored: StoredEval) -> EvalView:
    shown = figures(stored.request, stored.cell_map())
    progress = stored.progress()
    return EvalView(
        id=stored.id,
        created_at=stored.created_at,
        author=stored.author,
        name=stored.request.name,
        status=stored.status,
        progress=ProgressView(
            done=progress.done, total=progress.total, eta_seconds=progress.eta_seconds
        ),
        samples=stored.request.samples,
        presets=shown.presets,
        cases=shown.cases,
        pairs=shown.pairs,
        definition=stored.request,
    )
