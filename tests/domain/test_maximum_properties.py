"""Invariants of a lot with maximum bids, buy-now and voids (hypothesis, fake time).

- the leader holds the highest maximum, the earliest among equals;
- the price never exceeds the leader's maximum, and never falls but by a void;
- with maximums alone, the price is the rule's: the second-highest maximum plus the increment
  at it, capped at the leader's, never below the starting price, at least the reserve once the
  leader's maximum reaches it (an oracle computed here from the asks, not by the lot's code);
- a buy-now is taken only while no bid stands, and the lot closes exactly once;
- replaying the log (voids included) rebuilds the state, as does a snapshot and the rest.
"""

from __future__ import annotations

import msgspec
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, MaxRaised
from bidwire.domain.lot import Bidding, Lot, LotSnapshot, LotSpec, Refusal
from bidwire.domain.money import FixedIncrement

T0 = 1_000_000
BIDDERS = st.sampled_from(["ann", "bob", "cy", "dee"])
AMOUNTS = st.integers(1, 60).map(lambda n: n * 50)


class Ask(msgspec.Struct, frozen=True):
    seq: int
    """The seq of the ask's own event (a void names it)."""
    bidder: str
    ceiling: int


class MaximumMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.lot: Lot | None = None
        self.log: list[LotEvent] = []
        self.asks: list[Ask] = []
        self.max_only = True
        self.last_price = 0
        self.snapshots: list[bytes] = []

    @rule(
        max_only=st.booleans(),
        step=st.sampled_from([50, 100, 250]),
        reserve=st.none() | AMOUNTS,
        buy_now=st.none() | AMOUNTS,
    )
    @precondition(lambda self: self.lot is None)
    def open(self, max_only: bool, step: int, reserve: int | None, buy_now: int | None) -> None:
        self.max_only = max_only
        spec = LotSpec(
            id="lot",
            title="Lot",
            starting_price=100,
            increment=FixedIncrement(step),
            reserve=reserve,
            buy_now=None if buy_now is None else max(buy_now, 100),
        )
        self.lot = Lot(spec, "sale", "timed")
        opened = self.lot.decide_open(self.now)
        assert not isinstance(opened, Refusal)
        self._apply(opened)

    @rule(ms=st.integers(0, 9_000))
    def advance(self, ms: int) -> None:
        self.now += ms

    @rule(who=BIDDERS, top=AMOUNTS, amount=st.none() | AMOUNTS, plain=st.booleans())
    @precondition(lambda self: self.lot is not None)
    def bid(self, who: str, top: int, amount: int | None, plain: bool) -> None:
        assert self.lot is not None
        maximum: int | None
        if self.max_only:
            amount, maximum = None, top
        else:
            amount, maximum = (top, None) if plain else (amount, top)
        decision = self.lot.decide_bid(who, amount, self.now, maximum)
        if isinstance(decision, Refusal):
            return
        assert isinstance(decision, Bidding)
        own = decision.own
        assert own.bidder == who and not getattr(own, "auto", False)
        ceiling = maximum if maximum is not None else amount
        assert ceiling is not None
        self.asks.append(Ask(own.seq, who, ceiling))
        for event in decision.events:
            self._apply(event)
        assert decision.leading == (self.lot.high_bidder == who)

    @rule(who=BIDDERS)
    @precondition(lambda self: self.lot is not None)
    def buy_now(self, who: str) -> None:
        assert self.lot is not None
        offered = self.lot.buy_now_offered()
        bought = self.lot.decide_buy_now(who, self.now)
        if isinstance(bought, Refusal):
            assert (
                offered is None or self.lot.status != "open" or self.now >= (self.lot.ends_at or 0)
            )
            return
        assert self.lot.high_amount is None and bought.amount == offered
        self._apply(bought)

    @rule(pick=st.integers(0, 10**6))
    @precondition(lambda self: self.lot is not None and self.lot.status == "open")
    def void(self, pick: int) -> None:
        assert self.lot is not None
        standing = [e.seq for e in self.log if isinstance(e, BidPlaced) and not e.auto]
        standing = [seq for seq in standing if seq not in self._voided()]
        if not standing:
            return
        voided = self.lot.decide_void(self.log, standing[pick % len(standing)], self.now, "root")
        assert isinstance(voided, BidVoided), voided
        self._apply(voided)
        self.last_price = 0  # a void may lower the price: that is what it is for

    @rule()
    @precondition(lambda self: self.lot is not None)
    def tick(self) -> None:
        assert self.lot is not None
        closing = self.lot.decide_close(self.now)
        if closing is not None:
            self._apply(closing)

    @rule()
    @precondition(lambda self: self.lot is not None)
    def take_snapshot(self) -> None:
        assert self.lot is not None
        self.snapshots.append(msgspec.msgpack.encode(self.lot.snapshot()))

    def _apply(self, event: LotEvent) -> None:
        assert self.lot is not None
        self.lot.apply(event)
        self.log.append(event)

    def _voided(self) -> set[int]:
        return {seq for e in self.log if isinstance(e, BidVoided) for seq in e.voided}

    def _maxima(self) -> list[tuple[int, int, str]]:
        """Each bidder's highest standing maximum as (ceiling, -first ask reaching it, who),
        best first."""
        return self._oracle()[0]

    def _oracle(self) -> tuple[list[tuple[int, int, str]], int | None]:
        """The maxima ranked, and the price the rule gives, from the standing asks alone: a
        challenge prices at the second maximum plus its increment, capped at the leader's; a
        leader's raise moves the price only up to the reserve."""
        assert self.lot is not None
        spec = self.lot.spec
        gone = self._voided()
        best: dict[str, tuple[int, int]] = {}
        ranked: list[tuple[int, int, str]] = []
        leader: str | None = None
        price: int | None = None
        for n, ask in enumerate(self.asks):
            if ask.seq in gone:
                continue
            known = best.get(ask.bidder)
            if known is None or ask.ceiling > known[0]:
                best[ask.bidder] = (ask.ceiling, -n)
            ranked = sorted(((c, i, who) for who, (c, i) in best.items()), reverse=True)
            top = ranked[0][0]
            if ask.bidder != leader or price is None:
                price = spec.starting_price
                if len(ranked) > 1:
                    second = ranked[1][0]
                    price = max(price, min(second + spec.increment.after(second), top))
            if spec.reserve is not None and top >= spec.reserve:
                price = max(price, spec.reserve)
            price = min(price, top)
            leader = ranked[0][2]
        return ranked, price

    def _bought(self) -> bool:
        return any(isinstance(e, LotClosed) and e.reason == "buy_now" for e in self.log)

    @invariant()
    def the_leader_holds_the_highest_maximum(self) -> None:
        lot = self.lot
        if lot is None or self._bought():
            return
        ranked = self._maxima()
        if not self.max_only and any(isinstance(e, BidVoided) for e in self.log):
            return  # a void re-decides plain bids, some now refused: the exact oracle is below
        if not ranked:
            assert lot.high_bidder is None and lot.high_amount is None
            return
        ceiling, _, leader = ranked[0]
        assert (lot.high_bidder, lot.high_max) == (leader, ceiling)

    @invariant()
    def the_price_follows_the_rule(self) -> None:
        lot = self.lot
        if lot is None or lot.high_amount is None or self._bought():
            return
        assert lot.high_max is not None and lot.high_amount <= lot.high_max
        assert lot.high_amount >= self.last_price, "the price fell without a void"
        self.last_price = lot.high_amount
        if self.max_only:
            assert lot.high_amount == self._oracle()[1]

    @invariant()
    def no_event_for_the_public_carries_a_maximum_but_its_owners(self) -> None:
        for event in self.log:
            if isinstance(event, MaxRaised):
                assert event.bidder and event.max_amount is not None

    @invariant()
    def closes_once_and_replays(self) -> None:
        if self.lot is None:
            return
        assert sum(isinstance(e, LotClosed) for e in self.log) <= 1
        assert [e.seq for e in self.log] == list(range(1, len(self.log) + 1))
        replayed = Lot(self.lot.spec, "sale", "timed")
        for event in self.log:
            replayed.apply(event)
        assert replayed == self.lot
        for encoded in self.snapshots:
            snapshot = msgspec.msgpack.decode(encoded, type=LotSnapshot)
            rebuilt = Lot.from_snapshot(self.lot.spec, "sale", "timed", snapshot)
            for event in self.log[snapshot.seq :]:
                rebuilt.apply(event)
            assert rebuilt == self.lot


MaximumMachine.TestCase.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)
TestMaximumProperties = MaximumMachine.TestCase
