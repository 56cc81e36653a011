"""Every door refuses without credentials: one ASGI middleware in front of every route.

Deny by default: a route added tomorrow is guarded without anyone remembering to; only the
few doors in PUBLIC answer everyone (tests/test_access_routes.py walks the route table to
hold that). Refused: a browser asking for a page is redirected to sign-in, which then brings
the person back where they were going (a preset link included); htmx is sent there with
HX-Redirect; everything else (the API, the `.json` exports, the live stream, scripts) gets
401 with a JSON `detail` saying how to sign in.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.access.rules import (
    ANONYMOUS,
    Access,
    Identity,
    access_in,
    bearer_token,
    client_host,
)
from app.access.throttle import too_many_failures
from app.access.users import name_problem, reserved
from app.guard.refusal import wants_json

# Open to everyone: liveness and readiness (health checks carry no credentials), the
# sign-in and sign-out pages, and the static files they need.
PUBLIC = frozenset({"/healthz", "/readyz", "/signin", "/signout"})
PUBLIC_PREFIXES = ("/static/",)
# Prometheus may scrape with a token of its own (KNOBS_METRICS_TOKEN), good for nothing else.
SCRAPED = frozenset({"/metrics"})
SIGN_IN = (
    "Sign in first: this Knobs needs credentials. Scripts send `Authorization: Bearer <token>` "
    "with the access token (KNOBS_ACCESS_TOKEN); people sign in at /signin."
)
WRONG_TOKEN = "The access token is wrong. Check KNOBS_ACCESS_TOKEN, or sign in at /signin."


def is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if not target or len(target) > 4000 or not target.startswith("/"):
        return "/"
    # `//evil.example` and `/\\evil.example` are other sites to a browser; so is any scheme.
    parts = urlsplit(target)
    if target.startswith(("//", "/\\")) or "\\" in parts.path or parts.scheme or parts.netloc:
        return "/"
    if any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return "/"
    return target


def sign_in_url(target: str) -> str:
    target = safe_next(target)
    return "/signin" if target == "/" else f"/signin?next={quote(target, safe='')}"


class AccessGuard:
    """Put the caller's Identity in `request.state.identity`, or refuse the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = scope["path"]
        access = access_in(scope)
        who: Identity | None = ANONYMOUS
        if access.needs_login():
            if path in SCRAPED and access.scraper(headers):
                await self.app(scope, receive, send)
                return
            refused, who = await self._identify(access, scope, headers)
            if refused is not None:
                await refused(scope, receive, send)
                return
        scope.setdefault("state", {})["identity"] = who
        if who is not None or is_public(path):
            await self.app(scope, receive, send)
            return
        await refuse(scope, headers)(scope, receive, send)

    async def _identify(
        self, access: Access, scope: Scope, headers: Headers
    ) -> tuple[Response | None, Identity | None]:
        """Who the credentials say; a refusal for a wrong or throttled bearer token."""
        name = access.proxy_names(scope, headers)
        if name is not None:
            if reserved(name):
                problem = name_problem(name)
                return unauthorized(
                    f"The sign-in proxy names a user Knobs refuses: {problem}."
                ), None
            return None, access.identity(name, "header")
        token = bearer_token(headers)
        if token is not None:
            address = client_host(scope)
            if wait := await access.throttle.wait(address):
                return throttled(wait), None
            if (who := access.check_token(token)) is not None:
                return None, who
            await access.throttle.failed(address)
            return unauthorized(WRONG_TOKEN), None
        return None, await access.from_session(headers)


def unauthorized(message: str) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="Knobs"', "Cache-Control": "no-store"}
    return JSONResponse({"detail": message}, 401, headers=headers)


def throttled(wait: int) -> Response:
    message = too_many_failures(wait)
    headers = {"Retry-After": str(wait), "Cache-Control": "no-store"}
    return JSONResponse({"detail": message}, 429, headers=headers)


def goes_to_sign_in(scope: Scope, headers: Headers) -> bool:
    """A person at a browser, sent to the sign-in page; anything else gets 401.

    The front door `/` sends everyone there (so `curl -i /` says where to go); other pages
    only a browser, which asks for HTML. The API, the `.json` exports, the live stream and
    Stop never: their callers want a status, not a page.
    """
    path = scope["path"]
    if scope["method"] not in ("GET", "HEAD") or wants_json(path) or path.startswith("/compare/"):
        return False
    return path == "/" or "text/html" in headers.get("accept", "")


def refuse(scope: Scope, headers: Headers) -> Response:
    """401 for machines; for people, the sign-in page and then back to where they were."""
    if headers.get("hx-request"):
        # htmx follows HX-Redirect with a full page load; back to the page it was on.
        current = urlsplit(headers.get("hx-current-url", ""))
        page = current.path + (f"?{current.query}" if current.query else "")
        response = unauthorized(SIGN_IN)
        response.headers["HX-Redirect"] = sign_in_url(page)
        return response
    if not goes_to_sign_in(scope, headers):
        return unauthorized(SIGN_IN)
    query = scope.get("query_string", b"").decode("latin-1")
    return RedirectResponse(sign_in_url(scope["path"] + (f"?{query}" if query else "")), 303)
