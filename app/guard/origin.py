"""Refuse state-changing requests that a browser sent on behalf of another site.

Knobs has no login to steal, but a page on any site could make a visitor's browser post to a
Knobs on localhost or the intranet: run comparisons on the server's API key, delete saved runs.
Browsers say where a request comes from in headers that page scripts cannot set:
`Sec-Fetch-Site` (every current browser) and `Origin` (older ones too). A request with neither
did not come from a web page (curl, scripts, the openai SDK) and passes. Same approach as Go's
net/http CrossOriginProtection, so no tokens in forms.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.guard.refusal import refusal

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def same_host(origin: str, host: str | None) -> bool:
    """Whether an Origin (scheme://host[:port]) names this server's Host header.

    Host and port are compared, not the scheme: behind a proxy that ends TLS the app sees
    http while the browser says https, yet the Host header is passed on unchanged.
    """
    if not host:
        return False
    try:
        sent, own = urlsplit(origin), urlsplit(f"//{host}")
        default = DEFAULT_PORTS.get(sent.scheme)
        return (
            sent.scheme in DEFAULT_PORTS
            and sent.hostname is not None
            and sent.hostname == own.hostname
            and (sent.port or default) == (own.port or default)
        )
    except ValueError:  # a malformed port or IPv6 literal
        return False


def cross_site_reason(headers: Headers) -> str | None:
    """Why this request must be refused as cross-site, or None to let it through."""
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    # The browser worked this out from the real URLs, so it holds behind any proxy.
    if site in ("same-origin", "none"):
        return None
    if site == "cross-site":
        return f"a page on another site ({shown(origin)}) sent this request"
    if site is None and origin is None:
        return None  # not from a web page: curl, a script, an API client
    # `same-site` (another port or subdomain), an unknown value, or a browser without
    # Sec-Fetch-Site: the Origin has to name this very server.
    if origin is None or origin == "null":
        return "this request came from an unnamed origin (a sandboxed frame or a local file)"
    host = headers.get("host")
    if not same_host(origin, host):
        return (
            f"this request came from {shown(origin)}, not from this server ({shown(host)}); "
            "behind a proxy, have it pass the original Host header"
        )
    return None


def shown(value: str | None) -> str:
    return "unknown" if not value else value[:100]


class CrossOriginProtection:
    """403 for a POST, PUT, PATCH or DELETE that a browser sent from another site."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            reason = cross_site_reason(Headers(scope=scope))
            if reason is not None:
                message = (
                    f"Refused: {reason}. Knobs accepts changes only from its own pages "
                    "and from clients that are not browsers."
                )
                response = refusal(scope, 403, "Refused: sent from another site", message)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
