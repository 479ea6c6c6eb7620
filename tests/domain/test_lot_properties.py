"""Invariants of a lot under any sequence of bids and clock moves (hypothesis, fake time).

- the high bid never falls;
- a lot closes exactly once;
- the winner is the highest valid bid;
- no bid is accepted at or after the deadline;
- every accepted bid moves the deadline to at least now + extend (unless a hard end caps it);
- replaying the log rebuilds the same state;
- a snapshot taken at any point (encoded and decoded as the store keeps it), then the events
  after it, rebuilds the same state as replaying everything.
"""

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bidwire.domain.events import BidPlaced, LotClosed, LotEvent
from bidwire.domain.lot import Lot, LotSnapshot, LotSpec, Refusal
from bidwire.domain.money import FixedIncrement

T0 = 1_000_000
BIDDERS = st.sampled_from(["ann", "bob", "cy"])


class LotMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.log: list[LotEvent] = []
        self.lot: Lot | None = None
        self.accepted: list[BidPlaced] = []
        self.closes = 0
        self.last_high = 0
        self.snapshots: list[tuple[bytes, LotSnapshot]] = []

    @rule(
        mode=st.sampled_from(["live", "timed"]),
        step=st.integers(1, 500),
        reserve=st.none() | st.integers(1, 3_000),
        hard=st.none() | st.integers(5_000, 60_000),
    )
    @precondition(lambda self: self.lot is None)
    def open(self, mode: str, step: int, reserve: int | None, hard: int | None) -> None:
        spec = LotSpec(
            id="lot",
            title="Lot",
            starting_price=100,
            increment=FixedIncrement(step),
            reserve=reserve,
            opening_ms=20_000,
            extend_ms=10_000,
            hard_end_ms=hard,
        )
        self.lot = Lot(spec, "sale", mode)  # type: ignore[arg-type]
        opened = self.lot.decide_open(self.now)
        assert not isinstance(opened, Refusal)
        self._apply(opened)

    @rule(ms=st.integers(0, 12_000))
    def advance(self, ms: int) -> None:
        self.now += ms

    @rule(offset=st.sampled_from([-1, 0, 1]))
    @precondition(lambda self: self.lot is not None and self.lot.ends_at is not None)
    def to_the_deadline(self, offset: int) -> None:
        """Land exactly on the edges, where the seed's bugs lived."""
        assert self.lot is not None and self.lot.ends_at is not None
        self.now = max(self.now, self.lot.ends_at + offset)

    @rule(who=BIDDERS, amount=st.integers(-10, 5_000))
    @precondition(lambda self: self.lot is not None)
    def bid(self, who: str, amount: int) -> None:
        assert self.lot is not None
        before_end = self.lot.ends_at
        bidding = self.lot.decide_bid(who, amount, self.now)
        if isinstance(bidding, Refusal):
            return
        decision = bidding.own
        assert isinstance(decision, BidPlaced) and len(bidding.events) == 1
        assert self.lot.status == "open"
        assert before_end is not None and self.now < before_end, "bid accepted at/after deadline"
        hard = self.lot.hard_end_at()
        if hard is None or hard >= self.now + self.lot.spec.extend_ms:
            assert decision.ends_at >= self.now + self.lot.spec.extend_ms
        self.accepted.append(decision)
        self._apply(decision)

    @rule()
    @precondition(lambda self: self.lot is not None)
    def pause_and_resume(self) -> None:
        """An admin pause keeps the time left; the resume never gives less than a window."""
        assert self.lot is not None
        paused = self.lot.decide_pause(self.now, "admin")
        if paused is None:
            return
        left = paused.remaining_ms
        self._apply(paused)
        assert isinstance(self.lot.decide_bid("ann", 10**6, self.now), Refusal)
        assert self.lot.decide_close(self.now + 10**9) is None  # paused lots do not close
        self.now += 30_000
        resumed = self.lot.decide_unpause(self.now, "admin")
        assert resumed is not None
        hard = self.lot.hard_end_at()
        expected = self.now + max(left, self.lot.spec.extend_ms)
        assert resumed.ends_at == (expected if hard is None else min(expected, hard))
        self._apply(resumed)

    @rule()
    @precondition(lambda self: self.lot is not None and self.lot.status != "closed")
    def withdraw(self) -> None:
        assert self.lot is not None
        closing = self.lot.decide_withdraw(self.now, "admin")
        assert not isinstance(closing, Refusal)
        assert closing.outcome == "unsold" and closing.reason == "withdrawn"
        self.closes += 1
        self._apply(closing)

    @rule()
    @precondition(lambda self: self.lot is not None)
    def tick(self) -> None:
        assert self.lot is not None
        closing = self.lot.decide_close(self.now)
        if closing is None:
            return
        assert self.lot.ends_at is not None and self.now >= self.lot.ends_at
        self.closes += 1
        if self.accepted and (self.lot.spec.reserve or 0) <= self.accepted[-1].amount:
            best = max(self.accepted, key=lambda b: b.amount)
            assert closing.outcome == "sold"
            assert (closing.winner, closing.amount) == (best.bidder, best.amount)
        else:
            assert closing.outcome == "unsold"
        self._apply(closing)

    @rule()
    @precondition(lambda self: self.lot is not None)
    def take_snapshot(self) -> None:
        assert self.lot is not None
        snapshot = self.lot.snapshot()
        self.snapshots.append((msgspec.msgpack.encode(snapshot), snapshot))

    def _apply(self, event: LotEvent) -> None:
        assert self.lot is not None
        self.lot.apply(event)
        self.log.append(event)

    @invariant()
    def high_bid_never_falls(self) -> None:
        if self.lot is not None and self.lot.high_amount is not None:
            assert self.lot.high_amount >= self.last_high
            self.last_high = self.lot.high_amount

    @invariant()
    def closes_at_most_once(self) -> None:
        assert self.closes <= 1
        assert sum(isinstance(e, LotClosed) for e in self.log) == self.closes

    @invariant()
    def replay_rebuilds_the_same_state(self) -> None:
        if self.lot is None:
            return
        replayed = Lot(self.lot.spec, "sale", self.lot.mode)
        for event in self.log:
            replayed.apply(event)
        assert replayed == self.lot

    @invariant()
    def a_snapshot_then_the_rest_rebuilds_the_same_state(self) -> None:
        if self.lot is None:
            return
        for encoded, taken in self.snapshots:
            # a snapshot is a copy: what the lot did since never changes one taken before
            assert msgspec.msgpack.encode(taken) == encoded
            snapshot = msgspec.msgpack.decode(encoded, type=LotSnapshot)
            rebuilt = Lot.from_snapshot(self.lot.spec, "sale", self.lot.mode, snapshot)
            for event in self.log[snapshot.seq :]:
                rebuilt.apply(event)
            assert rebuilt == self.lot

    @invariant()
    def seqs_have_no_gaps(self) -> None:
        assert [e.seq for e in self.log] == list(range(1, len(self.log) + 1))


LotMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestLotProperties = LotMachine.TestCase


def test_a_closed_lot_refuses_all_bids() -> None:
    lot = Lot(LotSpec(id="x", title="X"), "s")
    opened = lot.decide_open(T0)
    assert not isinstance(opened, Refusal)
    lot.apply(opened)
    closing = lot.decide_close(T0 + 30_000)
    assert closing is not None
    lot.apply(closing)
    for at in (T0, T0 + 30_000, T0 + 10**9):
        assert isinstance(lot.decide_bid("z", 10**6, at), Refusal)
