"""My activity over HTTP: the caller's bids, leads, wins and watch list, and their notices
inbox. The caller is the login (cookie or bearer token), else the guest session (cookie); the
engine (``engine/activity.py``) answers, in the same shapes as the wire's replies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bidwire.engine.activity import INBOX_KEEP, MAX_PAGE, PAGE, ActivityPage, Inbox, Watched, Who
from bidwire.transports.http.auth import current_user, guest_session
from bidwire.transports.http.edge import ApiError, Context, error_responses, wire_json, wire_schema

router = APIRouter()


async def _who(request: Request) -> Who:
    """The login, else the guest session; neither is 401 (a stale token is refused as such)."""
    user = await current_user(request)
    if user is not None:
        return Who(user.username, True)
    session = await guest_session(request, None)
    if session is None:
        raise ApiError("not_authenticated", "log in, or bid as a guest first")
    return Who(session.actor.name, False)


class NoticesRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up_to: int | None = Field(
        default=None,
        ge=1,
        description="Mark read the notices with this notice_id or less; leave out for all.",
    )


class Unread(BaseModel):
    unread: int = Field(description="Notices left unread.")


@router.get(
    "/api/me/activity",
    responses={
        **wire_schema(ActivityPage, "Your bids, leads, wins and watch list."),
        **error_responses("not_authenticated", "forbidden", "bad_request", "unavailable"),
    },
)
async def my_activity(
    request: Request,
    ctx: Context,
    before: Annotated[
        str | None,
        Query(max_length=120, description="next_before of the previous page: older bids."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
) -> Response:
    """Your own activity, as the wire's ``mine`` answers it: your bids newest first (a page at
    a time), the lots where you lead and where you were outbid, what you won and what you owe
    per currency (the hammer), and the lots you watch. In an anonymous sale too: it is yours."""
    who = await _who(request)
    return wire_json(await ctx.activity.activity(who, before, limit))


async def _watch(request: Request, ctx: Context, lot_id: str, on: bool) -> Response:
    who = await _who(request)
    return wire_json(await ctx.activity.watch(who, lot_id, on))


WATCH_RESPONSES = {
    **wire_schema(Watched, "The lot and your watch list now."),
    **error_responses("not_authenticated", "forbidden", "unknown_lot", "bad_request"),
}


@router.put("/api/me/watch/{lot_id}", responses=WATCH_RESPONSES)
async def watch(lot_id: str, request: Request, ctx: Context) -> Response:
    """Watch a lot: you are told when it opens and when it nears its end (60 s or less left).
    At most 200 lots; an account's list is kept, a guest's lasts as long as its session."""
    return await _watch(request, ctx, lot_id, True)


@router.delete("/api/me/watch/{lot_id}", responses=WATCH_RESPONSES)
async def unwatch(lot_id: str, request: Request, ctx: Context) -> Response:
    """Stop watching a lot (watching it or not, the answer is your list now)."""
    return await _watch(request, ctx, lot_id, False)


@router.get(
    "/api/me/notices",
    responses={
        **wire_schema(Inbox, "Your kept notices, newest first."),
        **error_responses("not_authenticated", "forbidden", "bad_request", "unavailable"),
    },
)
async def notices(
    request: Request,
    ctx: Context,
    limit: Annotated[int, Query(ge=1, le=INBOX_KEEP)] = PAGE,
) -> Response:
    """What happened while you were away: an account's notices (outbid, won, a watched lot
    opening or ending), the newest 200 kept. A guest's notices are live only (``kept``
    false, none listed)."""
    who = await _who(request)
    return wire_json(await ctx.activity.inbox(who, limit))


@router.post(
    "/api/me/notices/read",
    response_model=Unread,
    responses=error_responses("bad_json", "not_authenticated", "forbidden", "bad_request"),
)
async def notices_read(request: Request, ctx: Context, body: NoticesRead | None = None) -> Unread:
    """Mark your notices read (all, or up to a notice_id); answers how many are left unread."""
    who = await _who(request)
    up_to = body.up_to if body is not None else None
    return Unread(unread=await ctx.activity.mark_read(who, up_to))
