"""Accounts over HTTP: what the server offers, registration, login, logout and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from bidwire.accounts.service import TOKEN_TTL_MS, Accounts
from bidwire.errors import ClientError
from bidwire.transports.http.auth import (
    TOKEN_COOKIE,
    LoggedInUser,
    check_origin,
    current_user,
    guest_session,
    set_token_cookie,
    token_of,
)
from bidwire.transports.http.edge import ApiError, Context, error_responses
from bidwire.transports.http.models import Credentials, LoggedIn, LoggedOut, Me, ServerInfo
from bidwire.transports.session import SessionContext

router = APIRouter()


@router.get("/api/info", response_model=ServerInfo)
@router.get("/api/server", response_model=ServerInfo)
async def info(request: Request, ctx: Context) -> ServerInfo:
    """What this server offers a newcomer (guests, accounts, the house's confirm limit), and
    who the caller is: the web client's first question, answered without an error status
    either way. ``/api/server`` is the same answer under the name issue 12 gave it."""
    try:
        user = await current_user(request)
    except (ApiError, ClientError):
        user = None
    return ServerInfo(
        guests=ctx.guests_allowed,
        accounts=ctx.accounts is not None,
        me=Me(user=user.username, role=user.role) if user is not None else None,
        confirm_above=ctx.confirm_above,
        node=ctx.node.name,
        ts=ctx.clock.now_ms(),
    )


def _accounts(ctx: SessionContext) -> Accounts:
    if ctx.accounts is None:
        raise ApiError("bad_request", "this server has no accounts")
    return ctx.accounts


@router.post(
    "/api/register",
    response_model=LoggedIn,
    responses=error_responses("bad_json", "bad_request", "unavailable"),
)
async def register(
    body: Credentials, request: Request, response: Response, ctx: Context
) -> LoggedIn:
    """Make a bidder account and log in: sets the HttpOnly ``bidwire_token`` cookie. Not a
    name a guest holds now (unless it is this browser's own guest session)."""
    holder = await guest_session(request, None) or object()
    actor, token = await ctx.gate.register(body.username, body.password, holder)
    set_token_cookie(request, response, token)
    return LoggedIn(
        user=actor.name,
        role="bidder",  # what registration makes
        token=token,
        expires_at=ctx.clock.now_ms() + TOKEN_TTL_MS,
    )


@router.post(
    "/api/login",
    response_model=LoggedIn,
    responses=error_responses(
        "bad_json",
        "bad_request",
        "not_authenticated",
        "forbidden",
        "rate_limited",
        "unavailable",
    ),
)
async def login(body: Credentials, request: Request, response: Response, ctx: Context) -> LoggedIn:
    """Log in: sets the HttpOnly ``bidwire_token`` cookie and returns the token for API
    clients. Repeated failures are throttled per account and per address (429)."""
    address = request.client.host if request.client else "local"
    issued = await _accounts(ctx).login(body.username, body.password, address)
    set_token_cookie(request, response, issued.token)
    return LoggedIn(
        user=issued.user.username,
        role=issued.user.role,
        token=issued.token,
        expires_at=ctx.clock.now_ms() + TOKEN_TTL_MS,
    )


@router.post(
    "/api/logout",
    response_model=LoggedOut,
    responses=error_responses("not_authenticated", "forbidden"),
)
async def logout(request: Request, response: Response, ctx: Context) -> LoggedOut:
    """Revoke the token (cookie or bearer) and clear the cookie. Without a token there is
    nothing to revoke, and the answer is the same. With the cookie, a request from another
    site's page (its Origin) is refused (403) and the token stays valid."""
    token, from_cookie = token_of(request)
    if token is not None:
        check_origin(request, from_cookie)  # another site must not log you out
    if token is not None and ctx.accounts is not None:
        await ctx.accounts.logout(token)
        ctx.disconnect(token=token)
    response.delete_cookie(
        TOKEN_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return LoggedOut()


@router.get(
    "/api/me", response_model=Me, responses=error_responses("not_authenticated", "forbidden")
)
async def whoami(user: LoggedInUser) -> Me:
    return Me(user=user.username, role=user.role)
