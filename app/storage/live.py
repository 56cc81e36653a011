"""Comparisons started from the page and not yet streamed to the end, kept in the database so
that whichever process the event stream or Stop reaches can find them.

The token in the page's stream URL is the only way in. The table holds a hash of it, never
the token itself, so reading the table (or a backup of it) neither opens a stream nor stops
one. A custom endpoint's key, which `CompareRequest`'s JSON leaves out by design, is sealed
with a key derived from the token: SHAKE-256 keystream, then HMAC-SHA256 over the sealed
bytes and the request they belong to. Every token is random and used once, so no nonce is
needed, and the database alone can never open the seal. No shared server secret is needed
either: whoever holds the token (the person who typed the key) brings it to any replica.
The seal is wiped as the token is claimed, before the stream's response (and so its access
log line, which carries the token) has even begun.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.engine.presets import CompareRequest
from app.storage.outages import outages_raised, unreachable
from app.storage.store import ID_BYTES

# A comparison whose tab never connected is refused (and then deleted) after this long.
UNCLAIMED_SECONDS = 300.0
# A claimed row outlives its stream only when its process died mid-stream; no comparison
# runs this long, so older rows are deleted too.
ABANDONED_SECONDS = 86_400.0
TAG_BYTES = 32

_UNREACHABLE = unreachable("live comparisons")
LIVE = sa.Table(
    "live_comparisons",
    sa.MetaData(),
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("request", sa.Text),
    sa.Column("sealed_keys", sa.Text),
    sa.Column("page_columns", sa.Text),
    sa.Column("created", sa.Float),
    sa.Column("claimed", sa.Boolean),
    sa.Column("stopped", sa.Boolean),
)


def new_token() -> str:
    """A live comparison's token: as unguessable as a run id."""
    return secrets.token_urlsafe(ID_BYTES)


@dataclass(frozen=True)
class Claimed:
    """What the stream needs: the request (custom endpoints' keys restored), the page column
    each preset fills, and whether Stop was pressed before the stream connected."""

    request: CompareRequest
    columns: list[int]
    stopped: bool


class LiveStore:
    """The `live_comparisons` table. Synchronous like `RunStore`; every method raises
    StoreUnavailable when the database is out of reach."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        # Wall-clock seconds, comparable across replicas (unlike time.monotonic).
        self.clock = clock

    def add(self, request: CompareRequest, columns: list[int]) -> str:
        """Keep `request` for its event stream; the token that finds it again."""
        token = new_token()
        request_json = request.model_dump_json()
        keys = [p.api_key.get_secret_value() if p.api_key else None for p in request.presets]
        now = self.clock()
        row = dict(
            token_hash=_derive(token, "lookup").hex(),
            request=request_json,
            sealed_keys=_seal(token, request_json, keys) if any(keys) else None,
            page_columns=json.dumps(columns),
            created=now,
            claimed=False,
            stopped=False,
        )
        expired = sa.or_(
            sa.and_(LIVE.c.claimed.is_(False), LIVE.c.created < now - UNCLAIMED_SECONDS),
            LIVE.c.created < now - ABANDONED_SECONDS,
        )
        with self._begin() as conn:
            conn.execute(sa.delete(LIVE).where(expired))
            conn.execute(sa.insert(LIVE).values(row))
        return token

    def claim(self, token: str, shape: type[CompareRequest] = CompareRequest) -> Claimed | None:
        """The comparison for its one event stream; None when the token is unknown, expired
        or already claimed, so only the first of two streams gets it. `shape` is the kind of
        request that was added (a sweep's is a CompareRequest with more presets)."""
        key = _where(token)
        fresh = LIVE.c.created >= self.clock() - UNCLAIMED_SECONDS
        with self._begin() as conn:
            # The update comes first: it takes the row's lock, so of two replicas claiming
            # at once only one sees claimed = false.
            won = conn.execute(
                sa.update(LIVE).where(key, LIVE.c.claimed.is_(False), fresh).values(claimed=True)
            )
            if won.rowcount != 1:
                return None
            row = conn.execute(sa.select(LIVE).where(key)).mappings().one()
            if row["sealed_keys"] is not None:
                conn.execute(sa.update(LIVE).where(key).values(sealed_keys=None))
        keys = _open(token, row["request"], row["sealed_keys"])
        if keys is None:
            return None  # the row was altered: its request is not the one the keys came with
        data = json.loads(row["request"])
        for preset, api_key in zip(data["presets"], keys, strict=True):
            preset["api_key"] = api_key
        request = shape.model_validate_json(json.dumps(data))
        return Claimed(request, json.loads(row["page_columns"]), bool(row["stopped"]))

    def stopped(self, token: str) -> bool:
        """True once Stop was pressed for the comparison, whichever process took it."""
        with self._connect() as conn:
            return bool(conn.scalar(sa.select(LIVE.c.stopped).where(_where(token))))

    def stop(self, token: str) -> bool:
        """Ask the process streaming the comparison to stop it; False for an unknown token."""
        with self._begin() as conn:
            done = conn.execute(sa.update(LIVE).where(_where(token)).values(stopped=True))
            return done.rowcount > 0

    def finish(self, token: str) -> None:
        """Forget a comparison whose stream has ended."""
        with self._begin() as conn:
            conn.execute(sa.delete(LIVE).where(_where(token)))

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with outages_raised(_UNREACHABLE), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        with outages_raised(_UNREACHABLE), self.engine.connect() as conn:
            yield conn


def _where(token: str) -> sa.ColumnElement[bool]:
    return LIVE.c.token_hash == _derive(token, "lookup").hex()


def _derive(token: str, purpose: str) -> bytes:
    """One 32-byte key per purpose from the token: finding the row, sealing, authenticating."""
    return hmac.digest(token.encode(), f"knobs live comparison: {purpose}".encode(), "sha256")


def _xor_keystream(token: str, data: bytes) -> bytes:
    """Seals and unseals: `data` XOR the token's SHAKE-256 keystream."""
    stream = hashlib.shake_256(_derive(token, "seal")).digest(len(data))
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _tag(token: str, request_json: str, sealed: bytes) -> bytes:
    message = len(sealed).to_bytes(4, "big") + sealed + request_json.encode()
    return hmac.digest(_derive(token, "authenticate"), message, "sha256")


def _seal(token: str, request_json: str, keys: list[str | None]) -> str:
    """The presets' keys, readable only with the token, and bound to this request."""
    sealed = _xor_keystream(token, json.dumps(keys).encode())
    return base64.b64encode(_tag(token, request_json, sealed) + sealed).decode()


def _open(token: str, request_json: str, stored: str | None) -> list[str | None] | None:
    """The keys `_seal` sealed (all None when there were none); None when the seal does not
    match the token and request."""
    n_presets = len(json.loads(request_json)["presets"])
    if stored is None:
        return [None] * n_presets
    blob = base64.b64decode(stored)
    tag, sealed = blob[:TAG_BYTES], blob[TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(token, request_json, sealed)):
        return None
    keys: list[str | None] = json.loads(_xor_keystream(token, sealed))
    return keys if len(keys) == n_presets else None
