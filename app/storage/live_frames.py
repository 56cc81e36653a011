"""Live views that any replica can serve: the frames of comparisons the page started, kept in
the database while they run, so that whichever process the event stream or Stop reaches can
follow or stop them.

The process that took the page's POST runs the comparison at once (the request, with any key
a person typed, never leaves its memory) and appends the view's frames here as they are made;
the event stream reads them back, from the runner's memory when it reaches the same process
and from here when it reaches another. The token in the stream's URL is the only way in: the
table holds a hash of it, never the token, so reading the table (or a backup of it) neither
opens a stream nor stops one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.storage.outages import outages_raised, unreachable
from app.storage.store import ID_BYTES

# A view whose tab never connected is refused after this long (and its comparison stopped).
UNCLAIMED_SECONDS = 300.0
# A view outlives its stream when its tab left before the end, never came, or its runner
# died; no comparison runs this long, so older views are deleted as new ones are added.
ABANDONED_SECONDS = 86_400.0

_UNREACHABLE = unreachable("live comparisons")
_metadata = sa.MetaData()
VIEWS = sa.Table(
    "live_views",
    _metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("created", sa.Float),  # seconds since the epoch, comparable across replicas
    sa.Column("touched", sa.Float),  # the runner's last sign of life
    sa.Column("claimed", sa.Boolean),  # a stream is following it
    sa.Column("stopped", sa.Boolean),  # Stop was pressed, on whichever replica
    sa.Column("ended", sa.Boolean),  # every frame is in
)
FRAMES = sa.Table(
    "live_frames",
    _metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("batch", sa.Integer, primary_key=True),  # numbered from 0 by the runner
    sa.Column("frames", sa.Text),  # consecutive SSE frames, written together
)


def new_token() -> str:
    """A live view's token: as unguessable as a run id."""
    return secrets.token_urlsafe(ID_BYTES)


@dataclass(frozen=True)
class RunnerView:
    """What the runner learns each time it writes: whether a stream follows, and Stop."""

    claimed: bool
    stopped: bool


@dataclass(frozen=True)
class FollowerView:
    """What a stream on another replica reads: the frames after the ones it has, whether
    they are all in, and when the runner last wrote."""

    frames: list[str]
    next_batch: int
    ended: bool
    touched: float


class LiveStore:
    """The `live_views` and `live_frames` tables. Synchronous like `RunStore`; every method
    raises StoreUnavailable when the database is out of reach."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def add(self) -> str:
        """A new live view; the token that finds it again."""
        token = new_token()
        now = self.clock()
        row = dict(
            token_hash=_hash(token),
            created=now,
            touched=now,
            claimed=False,
            stopped=False,
            ended=False,
        )
        expired = sa.or_(
            sa.and_(VIEWS.c.claimed.is_(False), VIEWS.c.created < now - UNCLAIMED_SECONDS),
            # Ended a while ago: its stream has read it, or left before the end.
            sa.and_(VIEWS.c.ended.is_(True), VIEWS.c.touched < now - UNCLAIMED_SECONDS),
            VIEWS.c.created < now - ABANDONED_SECONDS,
        )
        with self._begin() as conn:
            gone = sa.select(VIEWS.c.token_hash).where(expired)
            conn.execute(sa.delete(FRAMES).where(FRAMES.c.token_hash.in_(gone)))
            conn.execute(sa.delete(VIEWS).where(expired))
            conn.execute(sa.insert(VIEWS).values(row))
        return token

    def write(self, token: str, batch: int, frames: list[str], ended: bool) -> RunnerView:
        """The runner appends `frames` as its `batch`th batch (none is just a sign of life)
        and learns whether a stream follows and whether Stop was pressed."""
        key = _hash(token)
        with self._begin() as conn:
            if frames:
                conn.execute(
                    sa.insert(FRAMES).values(token_hash=key, batch=batch, frames="".join(frames))
                )
            conn.execute(
                sa.update(VIEWS)
                .where(VIEWS.c.token_hash == key)
                .values(touched=self.clock(), ended=ended)
            )
            row = conn.execute(
                sa.select(VIEWS.c.claimed, VIEWS.c.stopped).where(VIEWS.c.token_hash == key)
            ).one_or_none()
        if row is None:  # deleted under it (expired): nobody can follow or stop it any more
            return RunnerView(claimed=False, stopped=True)
        return RunnerView(bool(row.claimed), bool(row.stopped))

    def claim(self, token: str) -> bool:
        """True for the first stream that asks for a fresh view, on whichever replica: only
        one stream follows a view."""
        fresh = VIEWS.c.created >= self.clock() - UNCLAIMED_SECONDS
        with self._begin() as conn:
            won = conn.execute(
                sa.update(VIEWS)
                .where(VIEWS.c.token_hash == _hash(token), VIEWS.c.claimed.is_(False), fresh)
                .values(claimed=True)
            )
            return won.rowcount == 1

    def read(self, token: str, batch: int) -> FollowerView | None:
        """The frames from the `batch`th batch on; None for a view that is gone."""
        key = _hash(token)
        with self._connect() as conn:
            view = conn.execute(
                sa.select(VIEWS.c.ended, VIEWS.c.touched).where(VIEWS.c.token_hash == key)
            ).one_or_none()
            if view is None:
                return None
            rows = conn.execute(
                sa.select(FRAMES.c.batch, FRAMES.c.frames)
                .where(FRAMES.c.token_hash == key, FRAMES.c.batch >= batch)
                .order_by(FRAMES.c.batch)
            ).all()
        # The view's row is read first: frames written after it are read next time, and
        # `ended` is never seen before the frames that came before it.
        return FollowerView(
            [r.frames for r in rows],
            rows[-1].batch + 1 if rows else batch,
            bool(view.ended),
            float(view.touched),
        )

    def stop(self, token: str) -> bool:
        """Ask the runner to stop; False for an unknown or finished view."""
        with self._begin() as conn:
            done = conn.execute(
                sa.update(VIEWS)
                .where(VIEWS.c.token_hash == _hash(token), VIEWS.c.ended.is_(False))
                .values(stopped=True)
            )
            return done.rowcount > 0

    def finish(self, token: str) -> None:
        """Forget a view whose stream has read it to the end."""
        key = _hash(token)
        with self._begin() as conn:
            conn.execute(sa.delete(FRAMES).where(FRAMES.c.token_hash == key))
            conn.execute(sa.delete(VIEWS).where(VIEWS.c.token_hash == key))

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with outages_raised(_UNREACHABLE), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        with outages_raised(_UNREACHABLE), self.engine.connect() as conn:
            yield conn


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
