"""Secret keys kept in the database (made by migration m006), so every replica shares them
and a restart keeps people signed in. Never logged, never shown."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

KEYS = sa.Table(
    "secret_keys",
    sa.MetaData(),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.String(200)),
)


def session_key(engine: Engine) -> str:
    """The key that signs session cookies."""
    with engine.connect() as conn:
        value = conn.scalar(sa.select(KEYS.c.value).where(KEYS.c.name == "sessions"))
    if not value:
        raise RuntimeError("the database has no session key: migration m006 did not run")
    return str(value)
