"""Security headers on every HTTP response.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it only adds headers to the first message
of each response and passes everything else straight through, so the event stream still goes
out chunk by chunk and the app still hears `http.disconnect` when a tab is closed.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything Knobs serves comes from its own origin: scripts and styles are files under /static
# (no inline <script>, <style> or style="..."), htmx's requests and the event stream go back to
# the same server. Swagger UI at /docs is vendored for the same reason (see app/web/docs.py).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # frame-ancestors says the same to current browsers; this is for the ones before CSP 2.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """Add SECURITY_HEADERS to every HTTP response that does not set its own value."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", []))
                # A route that knows better (its own policy, say) keeps its value.
                present = {name.lower() for name, _ in own}
                extra = [(name, value) for name, value in self.headers if name not in present]
                message = {**message, "headers": own + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
