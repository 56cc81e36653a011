"""Who may use Knobs, and who is asking: the access rules and the credentials they accept.

Zero-config stays zero-config on loopback (`make run`); anywhere else Knobs is never open by
accident: with no way in configured it makes an access token at start and logs the one URL
that signs in with it, as Jupyter does. Ways in: a shared token (the sign-in page, or
`Authorization: Bearer` for scripts), named users from a file of hashed passwords, and a
header set by an SSO proxy, honoured only from that proxy's addresses. Every comparison of a
secret is constant-time. `auth_guard.py` applies this to every request.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import Scope

from app.access.clients import Network, trusted
from app.access.listening import Listener, listeners, only_local
from app.access.sessions import COOKIE, Kind, MemorySessionBook, Session, SessionBook, Sessions
from app.access.throttle import SigninThrottle
from app.access.users import ANONYMOUS_USER, TOKEN_USER, Users

log = logging.getLogger("knobs.access")
Mode = Literal["auto", "required", "none"]


@dataclass(frozen=True)
class Identity:
    """Who is asking: a user's name, "token" or "anonymous"; how; whether they administer."""

    name: str
    via: Literal["open", "token", "password", "header"]
    admin: bool = False

    @property
    def signed_in(self) -> bool:
        return self.via != "open"

    def may_delete(self, author: str | None) -> bool:
        return self.admin or (author is not None and author == self.name)


# With no access control, whoever reaches Knobs owns it: every run is theirs to delete.
ANONYMOUS = Identity(ANONYMOUS_USER, "open", admin=True)


@dataclass(frozen=True)
class AccessRules:
    """The access settings, as the settings object hands them over."""

    mode: Mode = "auto"
    token: str | None = None
    users_file: Path | None = None
    trusted_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()
    metrics_token: str | None = None
    admins: frozenset[str] = field(default_factory=frozenset)
    session_seconds: int = 7 * 24 * 3600

    @property
    def configured(self) -> bool:
        return bool(self.token or self.users_file or self.trusted_header)


def networks(setting: str) -> tuple[Network, ...]:
    """`10.0.0.5, 172.16.0.0/12` as networks; a bad entry raises ValueError naming it."""
    found = []
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
    return tuple(found)


def client_host(scope: Scope) -> str:
    """The client's address, as app/access/clients.py decided it."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def where(found: list[Listener] | None) -> str:
    """`host:port` to open in a browser: the bound address, or localhost for all of them."""
    tcp = [x for x in found or [] if x.port]
    if not tcp:
        return "localhost:8000"
    host = tcp[0].host
    if host in ("0.0.0.0", "::"):
        host = "localhost"
    return f"[{host}]:{tcp[0].port}" if ":" in host else f"{host}:{tcp[0].port}"


def bearer_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer …` header, stripped; None without one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


def access_in(scope: Scope) -> Access:
    """The Access that start-up built, as the request's lifespan state carries it (the guards
    run before any route, below the web layer's typed services, so they read it here)."""
    access = getattr(scope.get("state", {}).get("services"), "access", None)
    if not isinstance(access, Access):
        raise RuntimeError("Knobs has not started: its lifespan did not run (--lifespan off?)")
    return access


class Access:
    """The rules at run time: the token in force, the users file, the session key."""

    def __init__(
        self,
        rules: AccessRules,
        session_key: str | None = None,
        book: SessionBook | None = None,
        throttle: SigninThrottle | None = None,
    ) -> None:
        """Start-up passes the database's key, book and throttle, which every replica
        shares; without them (tests of the rules alone) this process keeps its own."""
        self.rules = rules
        self.users = Users(rules.users_file) if rules.users_file else None
        # Made now, used only if Knobs turns out to be reachable with no way in configured.
        self.token = rules.token or secrets.token_urlsafe(24)
        self.throttle = throttle or SigninThrottle()
        self.sessions = Sessions(session_key or secrets.token_hex(32), rules.session_seconds)
        self.book: SessionBook = book or MemorySessionBook()
        self.required: bool | None = (
            None if rules.mode == "auto" and not rules.configured else (rules.mode != "none")
        )
        self.announced = False

    def needs_login(self) -> bool:
        """Whether credentials are asked for; False on loopback with no way in, or auth=none.

        Settled at the latest by the first request: by then every socket is bound.
        """
        if self.required is None:
            self.settle(listeners(), final=True)
        return bool(self.required)

    def scraper(self, headers: Headers) -> bool:
        """Whether the request carries the metrics scrape token (KNOBS_METRICS_TOKEN)."""
        token, expected = bearer_token(headers), self.rules.metrics_token
        if not expected or token is None:
            return False
        return hmac.compare_digest(token.encode(), expected.encode())

    @property
    def token_in_force(self) -> bool:
        """Whether the shared token is a way in: set by the admin, or made at start."""
        return bool(self.rules.token) or (self.required is True and not self.rules.configured)

    def settle(self, found: list[Listener] | None, *, final: bool) -> None:
        """Decide whether credentials are needed from where Knobs listens, and say so once.

        Only the first request settles "no login needed" (`final`): by then every socket the
        server will listen on is bound. Start-up may only settle "needed".
        """
        if self.required is None and (final or not only_local(found)):
            self.required = not only_local(found)
        if self.required is None or self.announced:
            return
        link = self.required and not self.rules.configured
        if link and not final and not found:
            return  # the link needs the port: wait for the server's socket
        self.announced = True
        if self.rules.mode == "none":
            log.warning("KNOBS_AUTH=none: anyone who reaches Knobs can use it and its history")
        elif link:
            # The one line that shows a secret, on purpose: it is how the first person gets in.
            log.warning(
                "Knobs is reachable beyond this machine and no way in is configured (see the "
                "docs/access.md). Sign in at http://%s/signin?token=%s",
                where(found),
                self.token,
            )

    def check_token(self, candidate: str) -> Identity | None:
        if not self.token_in_force:
            return None
        if not hmac.compare_digest(candidate.encode(), self.token.encode()):
            return None
        return self.identity(TOKEN_USER, "token")

    def check_password(self, name: str, password: str) -> Identity | None:
        if self.users is None or not self.users.check(name, password):
            return None
        return self.identity(name, "password")

    def identity(self, name: str, via: Literal["token", "password", "header"]) -> Identity:
        return Identity(name, via, admin=name in self.rules.admins)

    async def start_session(self, who: Identity) -> str:
        """Open a session for `who` in the book; the cookie value that carries it."""
        kind: Kind = "token" if who.via == "token" else "password"
        session = self.sessions.new(who.name, kind, self._credential(who.name, kind) or "")
        await self.book.open(session, time.time() + self.rules.session_seconds)
        return self.sessions.dump(session)

    def session_in(self, headers: Headers) -> Session | None:
        """The session the request's cookie names, if the cookie is genuine and in date."""
        value = cookie_parser(headers.get("cookie", "")).get(COOKIE)
        return self.sessions.load(value) if value else None

    def _credential(self, name: str, kind: Kind) -> str | None:
        if kind == "token":
            return self.token if self.token_in_force else None
        return self.users.hash_of(name) if self.users else None

    def proxy_names(self, scope: Scope, headers: Headers) -> str | None:
        """The name an SSO proxy vouches for, if the socket's peer is one of its addresses.

        The peer, not the client: the client is whoever the proxy forwards for.
        """
        name = self.rules.trusted_header and headers.get(self.rules.trusted_header, "").strip()
        if not name or len(name) > 200:
            return None
        peer = str(scope.get("state", {}).get("peer", ""))
        if not trusted(peer, self.rules.trusted_proxies):
            return None
        return name

    async def from_session(self, headers: Headers) -> Identity | None:
        session = self.session_in(headers)
        if session is None:
            return None
        if not self.sessions.matches(session, self._credential(session.name, session.kind)):
            return None  # the token or password changed, or the user was removed
        if not await self.book.is_open(session):
            return None  # signed out, here or on another replica
        return self.identity(session.name, session.kind)
