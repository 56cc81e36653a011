"""The PostgreSQL server the tests use, from KNOBS_TEST_DATABASE_URL, and a fresh schema
per test on it.

`make test` starts a throwaway server (.ci/postgres) and sets the variable. Run by hand
without it, the PostgreSQL tests are skipped, saying how to run them; under `make test` a skip
fails (tests/conftest.py), so the suite cannot quietly stop testing PostgreSQL. A set but
unreachable server always fails them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
import sqlalchemy as sa

from app.storage.store import engine_url

ENV = "KNOBS_TEST_DATABASE_URL"
HOW = (
    "`make test` starts a throwaway server and sets it; to run pytest by hand, "
    '`eval "$(make -s postgres)"` first, or set it to postgresql://user:password@host/database'
)


def server_url() -> str:
    """The test server's URL; skips the test without one (a failure under `make test`)."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        pytest.skip(f"PostgreSQL tests need {ENV}: {HOW}")
    problem = _unreachable(url)
    if problem:
        pytest.fail(f"{ENV} is set, but {problem}", pytrace=False)
    return url


@cache
def _unreachable(url: str) -> str | None:
    """Why the server cannot be used (asked once per session), or None."""
    engine = sa.create_engine(engine_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        shown = engine.url.render_as_string(hide_password=True)
        return f"{shown} cannot be used: {type(error).__name__}: {getattr(error, 'orig', error)}"
    finally:
        engine.dispose()
    return None


def with_schema(url: str, schema: str) -> str:
    """`url`, with every connection's search_path set to `schema`: unqualified tables (all
    that Knobs uses) are created and found there."""
    parsed = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema on the server for the duration; yields a URL that uses it."""
    schema = f"knobs_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(engine_url(url), poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield with_schema(url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
