"""The session cookie: who signed in and how, signed with a key from the database, and the
book of sessions that are still open, so that Sign out ends one for good.

itsdangerous signs the cookie and dates it, so it cannot be forged or kept past its age. Each
cookie carries a random session id and a stamp of the credential it was earned with (an HMAC
of the token, or of the user's password hash): changing the token or a password, or removing
a user, ends those sessions. The id must also be open in the book (the store's, once Knobs has
started: app/storage/session_book.py), so Sign out, or Sign out everywhere, ends the session on
every replica however many copies of the cookie exist. The book keeps a hash of each id only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "knobs_session"
Kind = Literal["token", "password"]


@dataclass(frozen=True)
class Session:
    name: str
    kind: Kind
    stamp: str
    id: str

    @property
    def key(self) -> str:
        """What the book keeps of the id: its hash, so a copy of the book signs no one in."""
        return hashlib.sha256(self.id.encode()).hexdigest()


class SessionBook(Protocol):
    """The sessions still open, by `Session.key`."""

    async def open(self, session: Session, expires: float) -> None: ...

    async def is_open(self, session: Session) -> bool: ...

    async def end(self, session: Session) -> None: ...

    async def end_all(self, name: str) -> int: ...


class MemorySessionBook:
    """One process's book: for tests in-process, and until the store's replaces it."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[str, float]] = {}

    async def open(self, session: Session, expires: float) -> None:
        self.sessions[session.key] = (session.name, expires)

    async def is_open(self, session: Session) -> bool:
        found = self.sessions.get(session.key)
        return found is not None and found[1] > time.time()

    async def end(self, session: Session) -> None:
        self.sessions.pop(session.key, None)

    async def end_all(self, name: str) -> int:
        ended = [key for key, (owner, _) in self.sessions.items() if owner == name]
        for key in ended:
            del self.sessions[key]
        return len(ended)


class Sessions:
    """Make and read session cookies under one key (shared by every replica)."""

    def __init__(self, key: str, max_age: int) -> None:
        self.key = key
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(key, salt="knobs-session")

    def stamp(self, credential: str) -> str:
        """A short, keyed digest of the credential: equal only for the same one."""
        digest = hmac.new(self.key.encode(), credential.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def matches(self, session: Session, credential: str | None) -> bool:
        return credential is not None and hmac.compare_digest(session.stamp, self.stamp(credential))

    def new(self, name: str, kind: Kind, credential: str) -> Session:
        return Session(name, kind, self.stamp(credential), secrets.token_urlsafe(24))

    def dump(self, session: Session) -> str:
        return self._serializer.dumps([session.name, session.kind, session.stamp, session.id])

    def load(self, value: str) -> Session | None:
        """The session the cookie holds; None when it is forged, damaged or too old."""
        try:
            name, kind, stamp, session_id = self._serializer.loads(value, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None  # cookies from before session ids (three fields) end here too
        values = (name, stamp, session_id)
        if kind not in ("token", "password") or not all(isinstance(v, str) for v in values):
            return None
        return Session(name, kind, stamp, session_id)

    def cookie(self, value: str, *, secure: bool) -> str:
        """The Set-Cookie value: HttpOnly and SameSite=Lax always, Secure over https."""
        flags = f"Max-Age={self.max_age}; Path=/; HttpOnly; SameSite=Lax"
        return f"{COOKIE}={value}; {flags}" + ("; Secure" if secure else "")


def cleared_cookie(*, secure: bool) -> str:
    """The Set-Cookie value that signs out."""
    flags = "Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    return f"{COOKIE}=; {flags}" + ("; Secure" if secure else "")
