"""The book of open sessions in the database (implements app/access/sessions.SessionBook),
so that Sign out on one replica ends the session on all of them.

One primary-key read per request that carries a session cookie. While the database is out of
reach, comparisons must still run (docs/self-hosting.md, "Health and outages"), so each process
answers from what it saw itself: sessions it ended stay ended, and other cookies, genuine and in
date, are let through until the database is back; this is logged once per outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from anyio.to_thread import run_sync
from sqlalchemy.engine import Engine

from app.access.sessions import Session
from app.storage.outages import StoreUnavailable, outages_raised, unreachable

log = logging.getLogger("knobs.access")
_UNREACHABLE = unreachable("sessions")
SESSIONS = sa.Table(
    "sessions",
    sa.MetaData(),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("expires", sa.Float),
)
T = TypeVar("T")


class StoredSessions:
    """Open sessions in the `sessions` table, one row each, deleted when they end."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self.ended_here: set[str] = set()  # what this process ended: kept through an outage
        self._warned = False

    async def open(self, session: Session, expires: float) -> None:
        self.ended_here.discard(session.key)
        await self._run(self._open, session, expires, fallback=None)

    async def is_open(self, session: Session) -> bool:
        if session.key in self.ended_here:
            return False
        return await self._run(self._is_open, session, fallback=True)

    async def end(self, session: Session) -> None:
        self.ended_here.add(session.key)
        await self._run(self._end, session, fallback=None)

    async def end_all(self, name: str) -> int:
        """End every session of `name`; how many there were. Raises StoreUnavailable."""
        return await run_sync(self.end_all_now, name)

    async def _run(self, work: Callable[..., T], *args: object, fallback: T) -> T:
        try:
            result = await run_sync(work, *args)
        except StoreUnavailable as error:
            if not self._warned:
                log.warning(
                    "%s; until it is back, sessions ended on other replicas may still work here",
                    error,
                )
            self._warned = True
            return fallback
        self._warned = False
        return result

    def _open(self, session: Session, expires: float) -> None:
        with outages_raised(_UNREACHABLE), self.engine.begin() as conn:
            conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.expires < self.clock()))
            row = {"key": session.key, "name": session.name[:200], "expires": expires}
            conn.execute(sa.insert(SESSIONS).values(**row))

    def _is_open(self, session: Session) -> bool:
        query = sa.select(SESSIONS.c.expires).where(SESSIONS.c.key == session.key)
        with outages_raised(_UNREACHABLE), self.engine.connect() as conn:
            expires = conn.scalar(query)
        return expires is not None and expires > self.clock()

    def _end(self, session: Session) -> None:
        with outages_raised(_UNREACHABLE), self.engine.begin() as conn:
            conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.key == session.key))

    def end_all_now(self, name: str) -> int:
        """`end_all` for callers outside the event loop (`python -m app user signout`)."""
        with outages_raised(_UNREACHABLE), self.engine.begin() as conn:
            return conn.execute(sa.delete(SESSIONS).where(SESSIONS.c.name == name)).rowcount
