"""Who is asking: the login token (bearer header or cookie), the guest session, the Origin
check that keeps other sites off both cookies, and the user dependencies of the endpoints.
The WebSocket (``transports/ws.py``) reads the same cookie and checks Origin with these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from starlette.requests import HTTPConnection

from bidwire.accounts.records import UserRecord
from bidwire.accounts.service import TOKEN_TTL_MS
from bidwire.engine.gate import GUEST_IDLE_MS, GuestSession
from bidwire.errors import BidwireError
from bidwire.transports.http.edge import ApiError, context

TOKEN_COOKIE = "bidwire_token"
"""The HttpOnly cookie the login sets (browsers cannot put headers on a WebSocket)."""
GUEST_COOKIE = "bidwire_guest"


def same_origin(origin: str, host: str) -> bool:
    """Whether a browser's ``Origin`` names this server: http(s), and the very host:port the
    request was sent to (the ``Host`` header). Browsers always send Origin on a WebSocket, so a
    page on any other site is refused; clients that are not browsers send none."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and parts.netloc.lower() == host.strip().lower()
    )


def foreign_origin(connection: HTTPConnection) -> bool:
    """Whether a page on another site sent this (a browser says so in Origin; others send none)."""
    origin = connection.headers.get("origin")
    return origin is not None and not same_origin(origin, connection.headers.get("host", ""))


def cookie_token(connection: HTTPConnection) -> str | None:
    return connection.cookies.get(TOKEN_COOKIE) or None


def token_of(request: Request) -> tuple[str | None, bool]:
    """The request's token and whether it came from the cookie (a browser) or a header."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError("not_authenticated", "use the header Authorization: Bearer <token>")
        return value.strip(), False
    return cookie_token(request), True


def check_origin(request: Request, from_cookie: bool) -> None:
    """The cookie is SameSite=Strict already; a foreign Origin on a change is refused too,
    for browsers that do not honour SameSite. Every route that acts on the cookie asks this."""
    if from_cookie and request.method not in ("GET", "HEAD", "OPTIONS") and foreign_origin(request):
        raise ApiError("forbidden", "a request from another site cannot use your login")


async def current_user(request: Request) -> UserRecord | None:
    """The logged-in user, None for an anonymous request. A token that is present but
    expired, revoked or its user blocked is refused (401/403), never taken as anonymous."""
    token, from_cookie = token_of(request)
    if token is None:
        return None
    ctx = context(request)
    if ctx.accounts is None:
        raise ApiError("not_authenticated", "this server has no accounts")
    check_origin(request, from_cookie)
    user = await ctx.accounts.authenticate(token)
    request.state.token = token
    return user


async def require_user(
    user: Annotated[UserRecord | None, Depends(current_user)],
) -> UserRecord:
    if user is None:
        raise ApiError("not_authenticated", "log in first")
    return user


async def require_admin(
    user: Annotated[UserRecord | None, Depends(current_user)],
) -> UserRecord:
    if user is None:
        raise ApiError("not_authenticated", "log in as an administrator first")
    if user.role != "admin":
        raise ApiError("forbidden", "only administrators may do this")
    return user


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads a public page, for what only they may see there: their own maximum while
    they lead (``name``), or every maximum (``admin``)."""

    name: str | None = None
    admin: bool = False


async def reader(request: Request) -> Reader:
    """The login, else the guest session; anyone at all when neither is valid: reading needs
    no login, so a stale token reads what the public reads instead of failing."""
    try:
        user = await current_user(request)
        if user is not None:
            return Reader(user.username, user.role == "admin")
        session = await guest_session(request, None)
    except (ApiError, BidwireError):
        return Reader()
    return Reader(session.actor.name if session is not None else None)


LoggedInUser = Annotated[UserRecord, Depends(require_user)]
AdminUser = Annotated[UserRecord, Depends(require_admin)]
MaybeUser = Annotated[UserRecord | None, Depends(current_user)]
ReaderOf = Annotated[Reader, Depends(reader)]


def set_token_cookie(request: Request, response: Response, token: str) -> None:
    _set_cookie(request, response, TOKEN_COOKIE, token, TOKEN_TTL_MS)


def set_guest_cookie(request: Request, response: Response, token: str) -> None:
    _set_cookie(request, response, GUEST_COOKIE, token, GUEST_IDLE_MS)  # the longest it lives


def guest_cookie_header(connection: HTTPConnection, token: str) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header of the guest cookie, for a WebSocket's handshake answer."""
    response = Response()
    _set_cookie(connection, response, GUEST_COOKIE, token, GUEST_IDLE_MS)
    return next((k, v) for k, v in response.raw_headers if k == b"set-cookie")


def _set_cookie(
    connection: HTTPConnection, response: Response, name: str, token: str, lifetime_ms: int
) -> None:
    """Out of the page's scripts' reach, sent to this site only, and only over TLS with TLS."""
    response.set_cookie(
        name,
        token,
        max_age=lifetime_ms // 1000,
        path="/",
        httponly=True,
        samesite="strict",
        secure=connection.url.scheme in ("https", "wss"),
    )


async def guest_session(request: Request, token: str | None) -> GuestSession | None:
    """The request's guest session: its body's token, or the cookie (from this site only),
    made here or on another node of the house."""
    gate = context(request).gate
    if token is not None:
        await gate.recall_guest(token)
        return gate.http_guest_of(token)
    cookie = request.cookies.get(GUEST_COOKIE)
    if cookie is None:
        return None
    if foreign_origin(request):
        raise ApiError("forbidden", "a request from another site cannot use your guest session")
    await gate.recall_guest(cookie)
    return gate.http_guest_of(cookie)
