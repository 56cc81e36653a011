"""When the database is out of reach: one error for it, and which driver errors mean that.

A database that is down, unreachable, read-only, full or locked past the busy timeout is an
outage: it answers 503 with Retry-After, and a comparison's answers are shown unsaved. Any
other database error (a wrong query, a missing table) is a bug and stays a 500.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or written just now; trying again later may work.
    The message, for the log, names the database with its password hidden."""


# SQLite's primary result codes that say "not now" (or "not here") rather than "wrong query".
_SQLITE_OUTAGE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
    }
)


def is_outage(error: BaseException) -> bool:
    """True when `error` says the database is out of reach, not that a query is wrong."""
    if isinstance(error, sa.exc.TimeoutError):  # every pooled connection busy for pool_timeout
        return True
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        # pysqlite calls "no such table" and syntax errors OperationalError too: ask the code.
        code = getattr(error.orig, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_OUTAGE
    # psycopg: refused or dropped connections, a server shutting down, too many clients.
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)


@contextmanager
def outages_raised(say: Callable[[sa.exc.SQLAlchemyError], str]) -> Iterator[None]:
    """Within the block, an outage raises StoreUnavailable with the message `say` makes of
    it; any other database error (a bug) goes up as it is, traceback and all."""
    try:
        yield
    except sa.exc.SQLAlchemyError as error:
        if not is_outage(error):
            raise
        raise StoreUnavailable(say(error)) from error


def unreachable(what: str) -> Callable[[sa.exc.SQLAlchemyError], str]:
    """For `outages_raised`: "`what` cannot reach the database (the error's kind)". The
    driver's text is not repeated: it can name the server."""

    def say(error: sa.exc.SQLAlchemyError) -> str:
        kind = type(getattr(error, "orig", None) or error).__name__
        return f"{what} cannot reach the database ({kind})"

    return say
