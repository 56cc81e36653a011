"""Signing in and out: the access token or a name and password, kept in a session cookie.

The sign-in link Knobs logs at start (`/signin?token=…`) signs in on GET so that opening it is
enough; uvicorn's access log shows its token as `***`. Only when opened directly or from
Knobs' own pages, though: from another site's page (an `<img>` will do) a wrong token would
use up the office's failed sign-ins, so there the page only shows the form, token filled in.
Every attempt, right or wrong, first asks the throttle: an address that failed too often
waits (429), however right it is now. Sign out ends the session in the store, so a copy of
the cookie is worth nothing after it, on any replica; "everywhere" ends all of the user's.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.access.door import safe_next
from app.access.rules import Access, Identity, client_host
from app.access.sessions import cleared_cookie
from app.access.throttle import too_many_failures
from app.web.services import services_of
from app.web.templating import page

router = APIRouter()
# Sec-Fetch-Site of a link opened directly (typed, pasted, a bookmark, another program) or
# from Knobs itself; clients that send none (curl, scripts) are direct too.
DIRECT = frozenset({"none", "same-origin"})
WRONG_TOKEN = "That access token is not right. Check it and try again."
FROM_ANOTHER_SITE = (
    "This sign-in link was opened from another site's page. If you meant to open it, "
    "press “Sign in with the token”."
)
WRONG_PASSWORD = "That name and password do not match. Check both and try again."


def _access(request: Request) -> Access:
    return services_of(request).access


def _page(
    request: Request,
    next_url: str,
    message: str = "",
    status: int = 200,
    name: str = "",
    token: str = "",
) -> Response:
    access = _access(request)
    context = {
        "next": next_url,
        "message": message,
        "name": name,
        "users": access.users is not None,
        "token": access.token_in_force,
        "token_value": token,
    }
    headers = {"Cache-Control": "no-store"}
    return page(request, "signin.html", context, status, headers)


async def _signed_in(request: Request, who: Identity, next_url: str) -> Response:
    access = _access(request)
    response = RedirectResponse(next_url, status_code=303)
    secure = request.url.scheme == "https"
    cookie = access.sessions.cookie(await access.start_session(who), secure=secure)
    response.headers.append("Set-Cookie", cookie)
    return response


async def _attempt(
    request: Request, next_url: str, token: str, name: str, password: str
) -> Response:
    """Check the credentials given, throttled per client address."""
    access = _access(request)
    address = client_host(request.scope)
    if wait := await access.throttle.wait(address):
        response = _page(request, next_url, too_many_failures(wait), 429, name)
        response.headers["Retry-After"] = str(wait)
        return response
    who: Identity | None = None
    if token:
        who = access.check_token(token)
    elif name and access.users is not None:
        # argon2 takes tens of milliseconds of CPU on purpose: off the event loop.
        who = await run_in_threadpool(access.check_password, name, password)
    if who is None:
        await access.throttle.failed(address)
        return _page(request, next_url, WRONG_TOKEN if token else WRONG_PASSWORD, 401, name)
    return await _signed_in(request, who, next_url)


@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
async def show_signin(request: Request) -> Response:
    """The sign-in page; with `?token=` (the link logged at start) it signs in at once."""
    next_url = safe_next(request.query_params.get("next"))
    if not _access(request).required:
        return RedirectResponse(next_url, status_code=303)
    token = request.query_params.get("token", "").strip()
    if token and request.headers.get("sec-fetch-site", "none") in DIRECT:
        return await _attempt(request, next_url, token, "", "")
    if token:
        return _page(request, next_url, FROM_ANOTHER_SITE, token=token)
    return _page(request, next_url)


@router.post("/signin", response_class=HTMLResponse, include_in_schema=False)
async def sign_in(request: Request) -> Response:
    """Check the token, or the name and password; then on to where the person was going."""
    data = await request.form()
    next_url = safe_next(str(data.get("next") or "/"))
    if not _access(request).required:
        return RedirectResponse(next_url, status_code=303)
    token, name = str(data.get("token") or "").strip(), str(data.get("name") or "").strip()
    return await _attempt(request, next_url, token, name, str(data.get("password") or ""))


@router.post("/signout", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    """End the session (with `everywhere`, every session of its user); back to sign-in."""
    access = _access(request)
    session = access.session_in(request.headers)
    if session is not None:
        if (await request.form()).get("everywhere"):
            await access.book.end_all(session.name)
        else:
            await access.book.end(session)
    response = RedirectResponse("/signin", status_code=303)
    response.headers.append("Set-Cookie", cleared_cookie(secure=request.url.scheme == "https"))
    return response
