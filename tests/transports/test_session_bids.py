"""Bids taken straight from a session's inbox (no task per bid): order, backpressure, faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bidwire.accounts.limits import TokenBucket
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.events import BidPlaced
from bidwire.engine.gate import Gate
from bidwire.transports.session import MAX_INBOX, Session, SessionContext
from bidwire.wire.batch import Batch
from tests.engine.test_house import make_house

pytestmark = pytest.mark.timeout(20)


class Outlet:
    """Records what the session writes, as a transport would carry it."""

    backed_up = False

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.paused = 0
        self.resumed = 0
        self.closed = False
        self.wrote = asyncio.Event()
        """Set at each write: what ``until`` waits on, instead of polling."""

    def send_message(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.sent.append(json.loads(data))
        self.wrote.set()

    def send_batch(self, batch: Batch) -> None:
        self.sent.extend(json.loads(item.json) for item in batch.items)
        self.wrote.set()

    def send_text(self, data: bytes) -> None:
        raise AssertionError("a JSON session got text")

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1

    def close(self) -> None:
        self.closed = True


async def json_session() -> tuple[Session, Outlet, Any]:
    house, rec, clock, store = await make_house()
    clock.advance(1_000)
    outlet = Outlet()
    assert rec.feed is not None
    ctx = SessionContext(house, rec.feed, clock, Gate(clock, bid_limiter=TokenBucket(1e6, 10**6)))
    session = Session(ctx, outlet, text_allowed=False)
    session.on_message(b'{"type":"hello","name":"ann","id":"h"}')
    await until(outlet, lambda: answers(outlet) == [("h", "welcome")])
    assert session.actor is not None
    outlet.sent.clear()
    return session, outlet, store


def bid(n: int, amount: int, lot: str = "a") -> bytes:
    return json.dumps({"type": "bid", "id": n, "lot": lot, "amount": amount}).encode()


def answers(outlet: Outlet) -> list[tuple[Any, str]]:
    """(request id, type) of every reply, events left out."""
    return [(m.get("id"), m["type"]) for m in outlet.sent if "id" in m]


async def until(outlet: Outlet, cond: Any, timeout: float = 5.0) -> None:
    """Wait until ``cond()`` holds, looking again after each write to the outlet."""
    async with asyncio.timeout(timeout):
        while not cond():
            outlet.wrote.clear()
            await outlet.wrote.wait()


async def test_pipelined_messages_are_answered_in_the_order_sent() -> None:
    session, outlet, _ = await json_session()
    # one read's worth: bids mixed with a message the worker task handles
    for data in (bid(1, 100), b'{"type":"ping","id":2}', bid(3, 100), bid(4, 100, lot="zz")):
        session.on_message(data)
    await until(outlet, lambda: len(answers(outlet)) == 4)
    assert answers(outlet) == [
        (1, "bid_accepted"),
        (2, "pong"),
        (3, "bid_rejected"),  # ann leads already: decided after bid 1 committed
        (4, "bid_rejected"),
    ]
    assert [m["code"] for m in outlet.sent if m["type"] == "bid_rejected"] == [
        "already_leading",
        "unknown_lot",
    ]


async def test_the_bidder_is_sent_the_event_before_the_acknowledgment() -> None:
    session, outlet, _ = await json_session()
    session.on_message(bid(1, 100))
    await until(outlet, lambda: answers(outlet) == [(1, "bid_accepted")])
    types = [m["type"] for m in outlet.sent]
    assert types.index("bid_placed") < types.index("bid_accepted")


async def test_hundreds_of_bids_queued_behind_a_commit_come_back_in_order() -> None:
    """They queue while the first bid commits, then are refused one after another inside one
    pump: each answer must not start a pump of its own (that recursed past Python's limit)."""
    session, outlet, _ = await json_session()
    n = MAX_INBOX * 3
    session.on_message(bid(0, 100))  # accepted: its commit is in flight...
    for i in range(1, n):
        session.on_message(bid(i, 1))  # ...while these queue; each is refused at once
    assert outlet.paused == 1  # the inbox filled: reading paused, nothing dropped
    await until(outlet, lambda: len(answers(outlet)) == n)
    assert [i for i, _ in answers(outlet)] == list(range(n))
    assert answers(outlet)[0] == (0, "bid_accepted")
    assert {m["code"] for m in outlet.sent if m["type"] == "bid_rejected"} == {"already_leading"}
    assert outlet.resumed == 1


async def test_a_queue_of_accepted_bids_commits_one_after_another() -> None:
    session, outlet, store = await json_session()
    amounts = [100, 200, 300]
    for i, amount in enumerate(amounts):
        session.on_message(bid(i, amount))
    await until(outlet, lambda: len(answers(outlet)) == 3)
    # each after the previous was answered: the 2nd and 3rd find ann leading
    assert [t for _, t in answers(outlet)] == ["bid_accepted", "bid_rejected", "bid_rejected"]
    assert [e.amount for e in store.lots["a"].events if isinstance(e, BidPlaced)] == [100]


async def test_a_failed_commit_is_answered_unavailable() -> None:
    session, outlet, store = await json_session()
    store.fail_appends = True
    session.on_message(bid(1, 100))
    await until(outlet, lambda: answers(outlet) == [(1, "bid_rejected")])
    assert outlet.sent[-1]["code"] == "unavailable"


async def test_nothing_is_written_after_the_session_closed() -> None:
    session, outlet, store = await json_session()
    session.on_message(bid(1, 100))
    session.close()  # before the commit resolves
    # Commits resolve, and answers go out, in the order the bids were decided: once a later
    # bid is answered, the closed session's answer has had its turn.
    later = await session.ctx.house.place_bid(PlaceBid(Actor("bob"), "a", 200))
    assert isinstance(later, Accepted)
    assert answers(outlet) == []
    assert [e.amount for e in store.lots["a"].events if isinstance(e, BidPlaced)] == [100, 200]


async def test_a_fault_in_the_bid_path_closes_that_connection_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session, outlet, _ = await json_session()

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(session.ctx.house, "offer_bid", broken)
    session.on_message(bid(1, 100))
    assert session.closed and outlet.closed
    session.on_message(bid(2, 200))  # a closed session takes nothing more
    assert answers(outlet) == []
