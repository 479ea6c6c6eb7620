"""transports/nodes.py alone: what a node does with letters that come late, twice, or are not
letters at all. The forwarding itself runs in tests/engine/test_cluster.py."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import Refusal
from bidwire.transports.nodes import Forwarder, Letter, Reply

pytestmark = pytest.mark.timeout(10)


class Owners:
    def owner_of(self, sale_id: str) -> str | None:
        return "owner"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Letter]] = []

    def send(self, node: str, data: bytes) -> None:
        self.sent.append((node, msgspec.msgpack.decode(data, type=Letter)))


def forwarder(timeout_ms: int = 50) -> tuple[Forwarder, Outbox]:
    box = Outbox()
    # the house is not reached: every ask here goes out, none comes in
    return Forwarder("me", Owners(), None, box, timeout_ms=timeout_ms), box  # type: ignore[arg-type]


async def test_an_answer_that_comes_after_its_time_is_dropped() -> None:
    fwd, box = forwarder()
    answers: list[Accepted | Refusal] = []
    fwd.bid("s", PlaceBid(Actor("ann"), "a", 100), answers.append)
    ((to, letter),) = box.sent
    assert to == "owner" and letter.ask is not None and letter.ask.sender == "me"
    await asyncio.sleep(0.1)
    assert len(answers) == 1 and isinstance(answers[0], Refusal)
    assert answers[0].code == "unavailable" and "request_id" in answers[0].message
    late = Accepted("a", 2, 100, None, True, FakeClock().now_ms())
    fwd.received(msgspec.msgpack.encode(Letter(reply=Reply(letter.ask.id, accepted=late))))
    assert len(answers) == 1 and fwd.late == 1  # not answered twice


async def test_an_answer_is_given_once_however_often_it_comes() -> None:
    fwd, box = forwarder(timeout_ms=5_000)
    answers: list[Accepted | Refusal] = []
    fwd.bid("s", PlaceBid(Actor("ann"), "a", 100), answers.append)
    ask = box.sent[0][1].ask
    assert ask is not None
    reply = Reply(ask.id, refused=("too_low", "bid at least 1.10 USD", 110))
    for _ in range(2):
        fwd.received(msgspec.msgpack.encode(Letter(reply=reply)))
    assert answers == [Refusal("too_low", "bid at least 1.10 USD", 110)]


async def test_what_is_not_a_letter_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    fwd, box = forwarder()
    fwd.received(b"\x93not a letter")
    fwd.received(b"")
    assert box.sent == [] and "dropped" in caplog.text


async def test_an_ask_to_an_owner_gone_is_answered_at_once_and_its_reply_dropped() -> None:
    owners = {"s": "owner", "t": "owner"}

    class Moving:
        def owner_of(self, sale_id: str) -> str | None:
            return owners.get(sale_id)

    box = Outbox()
    fwd = Forwarder("me", Moving(), None, box, timeout_ms=60_000)  # type: ignore[arg-type]
    moved: list[Accepted | Refusal] = []
    stays: list[Accepted | Refusal] = []
    fwd.bid("s", PlaceBid(Actor("ann"), "a", 100), moved.append)
    fwd.bid("t", PlaceBid(Actor("bob"), "b", 100), stays.append)
    fwd.owners_changed()
    assert moved == [] and stays == []  # nobody moved: both wait
    owners["s"] = "other"
    fwd.owners_changed()
    assert len(moved) == 1 and isinstance(moved[0], Refusal) and moved[0].code == "unavailable"
    assert stays == [] and fwd.moved == 1
    ask = box.sent[0][1].ask
    assert ask is not None
    late = Accepted("a", 2, 100, None, True, FakeClock().now_ms())
    fwd.received(msgspec.msgpack.encode(Letter(reply=Reply(ask.id, accepted=late))))
    assert len(moved) == 1  # not answered twice
