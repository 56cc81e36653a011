"""A saved run: a finished comparison as stored, and the summary the history page lists."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from app.engine.analysis import count_answered
from app.engine.flags import COUNTED_FLAGS, flag_kinds
from app.engine.presets import CompareRequest
from app.engine.results import Column, Comparison

EXCERPT_CHARS = 160
# The columns of the runs table (store.py), and RunSummary's fields, that count flags.
COUNTED = tuple(flag.column for flag in COUNTED_FLAGS if flag.column is not None)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class SavedRun(BaseModel):
    """Everything a permalink shows; its JSON is the `/api/runs/{id}` and `.json` shape."""

    id: str = ""
    created_at: str = Field(default_factory=utc_now, description="UTC, ISO 8601")
    system: str | None = None
    prompt: str
    samples: int
    columns: list[Column]
    models: list[str] = Field(default_factory=list, description="models that answered")
    stopped: bool = False
    endpoints: list[str] = Field(
        default_factory=list, description="endpoints the columns used, in column order"
    )
    cost: float | None = Field(
        default=None, description="US dollars, every column together; null if any is unknown"
    )
    agreement: list[list[float | None]] | None = Field(
        default=None, description="how similar each column's answers are to each other column's"
    )
    author: str | None = Field(
        default=None,
        description='who ran it: a user name, "token" (the shared access token) or "anonymous"',
    )

    @model_validator(mode="before")
    @classmethod
    def _one_endpoint(cls, data: Any) -> Any:
        # Runs saved before columns recorded their endpoint named one for the whole run.
        if isinstance(data, dict) and "endpoint" in data:
            data = dict(data)
            old = data.pop("endpoint")
            data.setdefault("endpoints", [old] if old else [])
        return data

    @classmethod
    def from_comparison(
        cls,
        request: CompareRequest,
        comparison: Comparison,
        *,
        stopped: bool = False,
        author: str | None = None,
    ) -> SavedRun:
        """The run to save once a comparison has finished (or was stopped)."""
        run = cls(
            system=request.system,
            prompt=request.prompt,
            samples=request.samples,
            columns=comparison.columns,
            stopped=stopped,
            author=author,
            endpoints=list(dict.fromkeys(c.endpoint for c in comparison.columns if c.endpoint)),
            cost=comparison.cost,
            agreement=comparison.agreement,
        )
        run.models = models_of(run)
        return run


class SavedComparison(Comparison):
    """`POST /api/compare`'s answer: the comparison, and where it was saved."""

    id: str | None = Field(description="the saved run's id; null when it could not be saved")
    url: str | None = Field(description="the saved run's permalink; null when not saved")
    not_saved: str | None = Field(
        default=None, description="why the run was not saved (the answers are complete)"
    )


def models_of(run: SavedRun) -> list[str]:
    """Models that answered, in column order; a preset's own model where none was reported."""
    names = [s.model or c.preset.model for c in run.columns for s in c.samples]
    return list(dict.fromkeys(n for n in names if n))


class RunSummary(BaseModel):
    """One row of the history: enough to recognise a run without loading it."""

    id: str
    created_at: str
    prompt_excerpt: str
    preset_names: list[str]
    models: list[str]
    samples: int
    # How many columns showed each flag the history counts (app/engine/flags.py's `column`).
    setting_refused: int = 0
    refused: int = 0
    reasoning_budget: int = 0
    truncated: int = 0
    nondeterministic: int = 0
    unexpected: int = 0
    drift: int = 0
    failed: int = 0
    stopped: bool = False
    author: str | None = None


def summarize(run: SavedRun) -> RunSummary:
    """Counts of flagged columns, each flag counted as the page shows it."""
    shown = Counter(
        kind for c in run.columns for kind in flag_kinds(c.flags, count_answered(c.samples))
    )
    return RunSummary(
        id=run.id,
        created_at=run.created_at,
        prompt_excerpt=excerpt(run.prompt),
        preset_names=[c.preset.title(i) for i, c in enumerate(run.columns)],
        models=run.models or models_of(run),
        samples=run.samples,
        **{flag.column: shown[flag.name] for flag in COUNTED_FLAGS if flag.column is not None},
        failed=sum(s.error is not None for c in run.columns for s in c.samples),
        stopped=run.stopped,
        author=run.author,
    )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The text on one line, cut at a word near `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut) + "…"
