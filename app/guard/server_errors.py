"""The last resort for an exception no handler took: logged once, answered with a short page
(JSON for the API) instead of Starlette's bare text/plain 500.

Starlette's own catch-all sits outside every middleware, so its 500 would miss the security
headers; this sits just inside SecurityHeaders, whose headers its answer then carries.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.guard.refusal import refusal

log = logging.getLogger("knobs.errors")
MESSAGE = (
    "Something went wrong on our side and the error has been logged. Try again; if it keeps "
    "happening, tell whoever runs this Knobs what you were doing."
)


class ServerErrors:
    """Turn an unhandled exception into a logged 500 that says what to do next."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch_start)
        except Exception:
            if started:
                # Too late for an error page: the server logs it and cuts the response short.
                raise
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response = refusal(scope, 500, "Something went wrong", MESSAGE)
            await response(scope, receive, send)
