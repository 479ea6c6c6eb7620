"""A text-mode guest (nc, the seed's client.py) who bid is told a code once; after the
connection drops, `resume CODE` on a new one is that guest again: the same name, the lead, the
bids in `history mine`. A wrong code, an account, and a missing code are each told in words."""

from __future__ import annotations

import re

import pytest

from bidwire.engine.gate import GUEST_IDLE_MS
from bidwire.transports.session import Session
from tests.transports.test_session_text import Room, TextOutlet, until

pytestmark = pytest.mark.timeout(20)

CODE = re.compile(r"type: resume (\S+)$")


async def stranger(room: Room) -> tuple[Session, TextOutlet]:
    """A new connection, greeted with a made-up name (guest-NNNN), as after a reconnect."""
    outlet = TextOutlet()
    session = Session(room.ctx, outlet, text_allowed=True)
    session.on_idle()
    return session, outlet


async def test_a_guest_who_bid_comes_back_by_code_with_its_name_and_lead() -> None:
    room = await Room.open()
    ann, ann_out = await room.person("ann")
    assert not any("resume" in line for line in ann_out.lines[1:]), "no code before a bid"
    await room.say(ann, ann_out, "150", "Bid accepted")
    told = await until(ann_out, "is kept for you")
    days = GUEST_IDLE_MS // 86_400_000
    assert told.startswith(f"Your name ann is kept for you for {days} days."), told
    found = CODE.search(told)
    assert found, told
    code = found.group(1)
    bob, bob_out = await room.person("bob")
    await room.say(bob, bob_out, "155", "Bid accepted")
    await room.say(ann, ann_out, "160", "Bid accepted")
    assert sum("is kept for you" in line for line in ann_out.lines) == 1, "told once"
    await room.settled()

    ann.on_close()  # the connection drops
    again, again_out = await stranger(room)
    assert "ann" not in again_out.lines[0], again_out.lines[0]  # a made-up name at first
    assert await room.say(again, again_out, f"resume {code}", "Welcome") == "Welcome back, ann!"
    lead = await until(again_out, "You lead on")
    assert lead == "You lead on Oil Painting at 160.00 USD.", lead
    # the same guest: its next bid is ann's, and its history holds the earlier ones
    await room.say(bob, bob_out, "165", "Bid accepted")
    await room.say(again, again_out, "170", "Bid accepted")
    await room.settled()
    assert room.house.lots["p"].high_bidder == "ann"
    mine = await room.say(again, again_out, "history mine", "160.00")
    assert "160.00 USD" in mine, again_out.text
    assert sum("is kept for you" in line for line in again_out.lines) == 0, "no code again"


async def test_a_wrong_or_missing_code_and_an_account_are_told_in_words() -> None:
    room = await Room.open()
    bob, bob_out = await room.person("bob")
    wrong = await room.say(bob, bob_out, "resume not-a-code", "code")
    assert wrong == (
        "That code is no guest's here: it may be mistyped, or the guest has ended"
        " (a guest who bid is kept 7 days). [not_authenticated]"
    )
    assert bob.actor is not None and bob.actor.name == "bob", "a wrong code changes nothing"
    missing = await room.say(bob, bob_out, "resume", "code")
    assert missing == (
        "Type resume and the code you were given after your first bid. [bad_request]"
    )
    assert "'resume CODE'" in await room.say(bob, bob_out, "help", "Commands")


async def test_a_guest_who_never_bid_has_no_code_and_its_name_is_free_at_once() -> None:
    room = await Room.open()
    cy, cy_out = await room.person("cy")
    await room.say(cy, cy_out, "lots", "Oil Painting")
    assert not any("resume" in line for line in cy_out.lines[1:])
    cy.on_close()
    other, other_out = await stranger(room)
    assert await room.say(other, other_out, "name cy", "You are now") == "You are now cy."
