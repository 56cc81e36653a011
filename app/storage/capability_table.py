"""What each endpoint's models refused, kept so that every replica (and the next start)
sends the adjusted request at once instead of meeting the same 400 again.

Implements the engine's `CapabilityStore` (app/engine/capabilities.py). Synchronous like
`RunStore`; the engine calls it from a worker thread and carries on without it, should the
database be out of reach (a lesson lost is only learnt again).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.engine.capabilities import Capabilities

CAPABILITIES = sa.Table(
    "capabilities",
    sa.MetaData(),
    sa.Column("base_url", sa.String(2000), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("body", sa.Text),
    sa.Column("updated_at", sa.String(40)),
)


class CapabilityTable:
    """The `capabilities` table: one row per endpoint URL and model."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, base_url: str, model: str) -> Capabilities | None:
        with self.engine.connect() as conn:
            body = conn.scalar(sa.select(CAPABILITIES.c.body).where(_key(base_url, model)))
        return None if body is None else Capabilities.model_validate_json(body)

    def learn(self, base_url: str, model: str, learnt: Capabilities) -> None:
        """Add `learnt` to what is known; two replicas learning at once both keep theirs."""
        for attempt in range(2):
            try:
                self._merge(base_url, model, learnt)
                return
            except sa.exc.IntegrityError:
                # Another replica inserted the row first: merge into theirs instead.
                if attempt:
                    raise

    def _merge(self, base_url: str, model: str, learnt: Capabilities) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        # IMMEDIATE: SQLite takes the write lock before the read, so no lesson is lost.
        with self.engine.execution_options(knobs_begin="IMMEDIATE").begin() as conn:
            where = _key(base_url, model)
            body = conn.scalar(sa.select(CAPABILITIES.c.body).where(where).with_for_update())
            if body is None:
                values = {"base_url": base_url, "model": model, "body": learnt.model_dump_json()}
                conn.execute(sa.insert(CAPABILITIES).values(**values, updated_at=now))
                return
            known = Capabilities.model_validate_json(body).merged(learnt)
            update = sa.update(CAPABILITIES).where(where)
            conn.execute(update.values(body=known.model_dump_json(), updated_at=now))


def _key(base_url: str, model: str) -> sa.ColumnElement[bool]:
    return sa.and_(CAPABILITIES.c.base_url == base_url, CAPABILITIES.c.model == model)
