"""The session cookie: who signed in and how, signed with a key from the database.

itsdangerous signs it and dates it, so it cannot be forged or kept past its age. Each cookie
carries a stamp of the credential it was earned with (an HMAC of the token, or of the user's
password hash): changing the token or a password, or removing a user, ends those sessions.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "knobs_session"
Kind = Literal["token", "password"]


@dataclass(frozen=True)
class Session:
    name: str
    kind: Kind
    stamp: str


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

    def dump(self, name: str, kind: Kind, credential: str) -> str:
        return self._serializer.dumps([name, kind, self.stamp(credential)])

    def load(self, value: str) -> Session | None:
        """The session the cookie holds; None when it is forged, damaged or too old."""
        try:
            name, kind, stamp = self._serializer.loads(value, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if kind not in ("token", "password") or not all(isinstance(v, str) for v in (name, stamp)):
            return None
        return Session(name, kind, stamp)

    def cookie(self, value: str, *, secure: bool) -> str:
        """The Set-Cookie value: HttpOnly and SameSite=Lax always, Secure over https."""
        flags = f"Max-Age={self.max_age}; Path=/; HttpOnly; SameSite=Lax"
        return f"{COOKIE}={value}; {flags}" + ("; Secure" if secure else "")


def cleared_cookie(*, secure: bool) -> str:
    """The Set-Cookie value that signs out."""
    flags = "Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    return f"{COOKIE}=; {flags}" + ("; Secure" if secure else "")
