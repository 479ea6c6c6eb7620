"""Bid histories asked on a connection: the wire's ``history`` (JSON) and the text mode's
``history``, ``history SALE``, ``history mine`` and ``history more``; pseudonyms in an
anonymous sale for everyone but admins, a bidder's own bids as theirs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bidwire.accounts.limits import TokenBucket
from bidwire.domain.commands import Actor
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.gate import Gate
from bidwire.transports.session import Session, SessionContext
from tests.engine.test_house import make_house, settle
from tests.transports.test_session_bids import Outlet, until
from tests.transports.test_session_text import Room

pytestmark = pytest.mark.timeout(30)


async def quiet_room() -> tuple[Any, SessionContext, Any]:
    """An anonymous timed sale of one ring, open."""
    house, rec, clock, _ = await make_house(add=False)
    ring = LotSpec("ring", "Silver Ring", starting_price=1_000, opening_ms=60_000)
    await house.add_sale(
        SaleSpec("quiet", "Quiet", ("ring",), mode="timed", anonymous=True), [ring]
    )
    house.start()
    await settle(house, rec.feed)
    assert rec.feed is not None
    ctx = SessionContext(house, rec.feed, clock, Gate(clock, bid_limiter=TokenBucket(1e6, 10**6)))
    return house, ctx, rec


async def joined(ctx: SessionContext, name: str) -> tuple[Session, Outlet]:
    outlet = Outlet()
    session = Session(ctx, outlet, text_allowed=False)
    session.on_message(json.dumps({"type": "hello", "name": name, "id": "h"}).encode())
    await until(outlet, lambda: any(m.get("id") == "h" for m in outlet.sent))
    return session, outlet


async def asked(session: Session, outlet: Outlet, message: dict[str, Any]) -> dict[str, Any]:
    outlet.sent.clear()
    session.on_message(json.dumps({**message, "id": "q"}).encode())
    await until(outlet, lambda: any(m.get("id") == "q" for m in outlet.sent))
    reply: dict[str, Any] = next(m for m in outlet.sent if m.get("id") == "q")
    return reply


async def test_the_wire_history_names_as_the_public_sees_but_for_admins_and_yourself() -> None:
    house, ctx, rec = await quiet_room()
    ann, ann_out = await joined(ctx, "ann")
    bob, bob_out = await joined(ctx, "bob")
    for session, outlet, amount in ((ann, ann_out, 1_000), (bob, bob_out, 1_500)):
        reply = await asked(session, outlet, {"type": "bid", "lot": "ring", "amount": amount})
        assert reply["type"] == "bid_accepted", reply
        await settle(house, rec.feed)

    sale = await asked(ann, ann_out, {"type": "history", "sale": "quiet"})
    assert (sale["type"], sale["scope"], sale["next_before"]) == ("history", "sale", None)
    public = [b["bidder"] for b in sale["bids"]]
    assert len(public) == 2 and not {"ann", "bob"} & set(public)
    lot = await asked(ann, ann_out, {"type": "history", "lot": "ring", "limit": 1})
    assert [b["bidder"] for b in lot["bids"]] == public[:1] and lot["next_before"] == "3"
    older = await asked(ann, ann_out, {"type": "history", "lot": "ring", "before": "3"})
    assert [b["amount"] for b in older["bids"]] == [1_000]

    mine = await asked(ann, ann_out, {"type": "history", "mine": True})
    assert [(b["bidder"], b["alias"], b["amount"]) for b in mine["bids"]] == [
        ("ann", public[1], 1_000)
    ]
    refused = await asked(ann, ann_out, {"type": "history", "bidder": "bob"})
    assert (refused["type"], refused["code"]) == ("error", "forbidden")

    ann.actor = Actor("root", "admin")  # an admin's connection sees the names
    named = await asked(ann, ann_out, {"type": "history", "sale": "quiet"})
    assert [b["bidder"] for b in named["bids"]] == ["bob", "ann"]
    bobs = await asked(ann, ann_out, {"type": "history", "bidder": "bob"})
    assert [(b["bidder"], b["amount"]) for b in bobs["bids"]] == [("bob", 1_500)]

    for bad, code in (
        ({}, "bad_request"),
        ({"sale": "quiet", "lot": "ring"}, "bad_request"),
        ({"sale": "nope"}, "unknown_sale"),
        ({"lot": "nope"}, "unknown_lot"),
        ({"sale": "quiet", "limit": 0}, "bad_request"),
        ({"sale": "quiet", "before": "soon"}, "bad_request"),
        ({"sale": 7}, "bad_request"),
    ):
        reply = await asked(bob, bob_out, {"type": "history", **bad})
        assert (reply["type"], reply["code"]) == ("error", code), bad
        assert reply["message"]


async def test_the_text_mode_shows_histories_in_words_a_page_at_a_time() -> None:
    room = await Room.open()
    ann, ann_out = await room.person("ann")
    bob, bob_out = await room.person("bob")
    assert "'history mine'" in await room.say(ann, ann_out, "help", "Commands")
    await room.say(ann, ann_out, "history", "no bids yet")

    await room.say(ann, ann_out, "max 250", "Maximum")
    await room.settled()
    await room.say(bob, bob_out, "150", "Bid placed")
    await room.settled()
    assert await room.say(ann, ann_out, "history", "Bids on") == (
        "Bids on Oil Painting [p], newest first:"
    )
    line = await room.say(ann, ann_out, "history", "152.50 USD")
    assert "by ann (automatic, for a maximum)" in line and "#" in line and "UTC" in line
    assert "250.00" not in "\n".join(ann_out.lines[-4:])  # no maximum in a lot's history
    await room.say(bob, bob_out, "history s", "Bids in Sale [s], newest first:")
    mine = await room.say(ann, ann_out, "history mine", "on Oil Painting [p]")
    assert "your maximum 250.00 USD" in mine

    # more than a page: 'history more' goes on from where the last one ended
    amount = 15_500
    for n in range(22):
        who, out = (bob, bob_out) if n % 2 == 0 else (ann, ann_out)
        await room.say(who, out, f"{amount / 100:.2f}", "Bid")
        await room.settled()
        amount += 1_000
    already = len(bob_out.lines)
    await room.say(bob, bob_out, "history", "Type 'history more' for older bids.")
    assert sum(" by " in x for x in bob_out.lines[already:]) == 20
    already = len(bob_out.lines)
    await room.say(bob, bob_out, "history more", "100.00 USD")
    shown = bob_out.lines[already:]
    assert "Bids on" not in "\n".join(shown) and "history more" not in "\n".join(shown)
    await room.say(bob, bob_out, "history more", "There is no earlier history")
    await room.say(bob, bob_out, "history nowhere", "There is no lot or sale 'nowhere'")
