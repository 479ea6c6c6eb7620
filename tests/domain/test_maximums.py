"""Maximum bids, buy-now, reserve status and voids: the worked examples of the contract
(../shared/protocol.md, "Maximum bids, buy-now, reserve status"); invariants are in
test_lot_properties.py."""

import msgspec

from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, LotOpened, MaxRaised
from bidwire.domain.lot import Bidding, Lot, LotSpec, Refusal
from bidwire.domain.money import FixedIncrement, TieredIncrement
from bidwire.domain.privacy import public_event

T0 = 1_000_000
DOLLAR_STEPS = FixedIncrement(100)  # $1.00 at every amount: the arithmetic is easy to read


def open_lot(**spec: object) -> tuple[Lot, list[LotEvent]]:
    fields: dict[str, object] = {"starting_price": 1_000, "increment": DOLLAR_STEPS}
    fields.update(spec)
    lot = Lot(LotSpec(id="w", title="Watch", **fields), "s")  # type: ignore[arg-type]
    opened = lot.decide_open(T0)
    assert isinstance(opened, LotOpened)
    lot.apply(opened)
    return lot, [opened]


def bid(
    lot: Lot, log: list[LotEvent], who: str, amount: int | None = None, top: int | None = None
) -> Bidding:
    decision = lot.decide_bid(who, amount, T0 + len(log), top)
    assert isinstance(decision, Bidding), decision
    for event in decision.events:
        lot.apply(event)
        log.append(event)
    return decision


def standing(lot: Lot) -> tuple[int | None, str | None, int | None]:
    return lot.high_amount, lot.high_bidder, lot.high_max


def test_a_single_maximum_leads_at_the_starting_price() -> None:
    lot, log = open_lot()
    placed = bid(lot, log, "ann", top=5_000)
    assert standing(lot) == (1_000, "ann", 5_000) and placed.leading
    own = placed.own
    assert isinstance(own, BidPlaced) and (own.amount, own.auto) == (1_000, False)


def test_a_rival_maximum_is_recorded_then_answered_at_it_plus_the_increment() -> None:
    lot, log = open_lot(increment=TieredIncrement(((0, 50), (3_000, 250))))
    bid(lot, log, "ann", top=5_000)
    answered = bid(lot, log, "bob", top=3_000)
    challenger, answer = answered.events
    assert isinstance(challenger, BidPlaced) and isinstance(answer, BidPlaced)
    assert (challenger.bidder, challenger.amount, challenger.auto) == ("bob", 3_000, False)
    # the increment at $30.00 is $2.50 in this table
    assert (answer.bidder, answer.amount, answer.auto) == ("ann", 3_250, True)
    assert not answered.leading and standing(lot) == (3_250, "ann", 5_000)
    assert challenger.seq + 1 == answer.seq and challenger.ends_at == answer.ends_at


def test_equal_maximums_keep_the_earlier_bidder_in_front_at_that_amount() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=3_000)
    tied = bid(lot, log, "bob", top=3_000)
    assert not tied.leading and standing(lot) == (3_000, "ann", 3_000)
    assert [e.amount for e in tied.events if isinstance(e, BidPlaced)] == [3_000, 3_000]


def test_a_higher_maximum_leads_at_the_old_one_plus_the_increment() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=3_000)
    over = bid(lot, log, "bob", top=5_000)
    assert over.leading and len(over.events) == 1
    assert standing(lot) == (3_100, "bob", 5_000)


def test_a_plain_bid_is_placed_at_exactly_its_amount() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=3_000)
    plain = bid(lot, log, "bob", 4_200)
    assert plain.leading and standing(lot) == (4_200, "bob", 4_200)
    lower = bid(lot, log, "cy", 4_300)  # plain bids under no maximum: as before
    assert lower.leading and standing(lot) == (4_300, "cy", 4_300)


def test_an_amount_with_a_maximum_is_where_the_bid_stands_at_least() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", 2_000, top=5_000)
    assert standing(lot) == (2_000, "ann", 5_000)


def test_a_leader_raises_without_moving_the_price_and_cannot_lower_or_repeat() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=3_000)
    raised = bid(lot, log, "ann", top=4_000)
    assert isinstance(raised.own, MaxRaised) and standing(lot) == (1_000, "ann", 4_000)
    for top in (4_000, 3_500):
        refused = lot.decide_bid("ann", None, T0 + 99, top)
        assert isinstance(refused, Refusal) and refused.code == "already_leading"
    plain = lot.decide_bid("ann", 2_000, T0 + 99)
    assert isinstance(plain, Refusal) and plain.code == "already_leading"


def test_once_the_leading_maximum_reaches_the_reserve_the_price_rises_to_it() -> None:
    lot, log = open_lot(reserve=4_000)
    bid(lot, log, "ann", top=3_000)
    assert standing(lot)[0] == 1_000 and not lot.reserve_met()
    raised = bid(lot, log, "ann", top=6_000)  # the leader's raise reaches the reserve
    assert isinstance(raised.own, BidPlaced) and raised.own.reserve_met is True
    assert standing(lot) == (4_000, "ann", 6_000) and lot.reserve_met()
    lot2, log2 = open_lot(reserve=4_000)
    first = bid(lot2, log2, "bob", top=9_000)  # a first maximum over the reserve
    assert standing(lot2) == (4_000, "bob", 9_000) and first.own.reserve_met is True  # type: ignore[union-attr]


def test_too_low_and_bad_maximums_are_refused_with_their_codes() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=3_000)
    low = lot.decide_bid("bob", None, T0 + 9, 1_050)
    assert isinstance(low, Refusal) and (low.code, low.min_amount) == ("too_low", 1_100)
    below = lot.decide_bid("bob", 2_000, T0 + 9, 1_500)
    assert isinstance(below, Refusal) and below.code == "bad_amount"
    neither = lot.decide_bid("bob", None, T0 + 9)
    assert isinstance(neither, Refusal) and neither.code == "bad_amount"


def test_a_maximum_never_reaches_the_public() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=5_000)
    bid(lot, log, "bob", top=3_000)
    bid(lot, log, "ann", top=7_000)
    for salt in (None, "salt"):
        for event in log:
            shown = public_event(event, salt)
            assert getattr(shown, "max_amount", None) is None
            assert b"5000" not in _json(shown) and b"7000" not in _json(shown)
    raised = log[-1]
    assert isinstance(raised, MaxRaised)
    assert _json(
        public_event(raised, None)
    ) == b'{"type":"max_raised","lot":"w","seq":5,"ts":%d}' % (raised.ts)


def _json(event: LotEvent) -> bytes:
    return msgspec.json.encode(event)


def test_buy_now_is_offered_until_the_first_bid() -> None:
    lot, log = open_lot(buy_now=20_000)
    assert lot.buy_now_offered() == 20_000
    bought = lot.decide_buy_now("cy", T0 + 5)
    assert isinstance(bought, LotClosed)
    assert (bought.outcome, bought.winner, bought.amount, bought.reason) == (
        "sold",
        "cy",
        20_000,
        "buy_now",
    )
    bid(lot, log, "ann", 1_000)
    assert lot.buy_now_offered() is None
    late = lot.decide_buy_now("cy", T0 + 6)
    assert isinstance(late, Refusal) and late.code == "not_offered"
    none, _ = open_lot()
    refused = none.decide_buy_now("cy", T0 + 5)
    assert isinstance(refused, Refusal) and refused.code == "not_offered"


def test_the_close_says_why() -> None:
    reasons = []
    for reserve, amounts in ((None, []), (None, [1_000]), (5_000, [1_000])):
        lot, log = open_lot(reserve=reserve)
        for amount in amounts:
            bid(lot, log, "ann", amount)
        assert lot.ends_at is not None
        closed = lot.decide_close(lot.ends_at)
        assert closed is not None
        reasons.append((closed.outcome, closed.reason))
    assert reasons == [("unsold", "no_bids"), ("sold", "hammer"), ("unsold", "reserve_not_met")]


def test_a_void_restores_what_the_log_without_the_bid_decides() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=5_000)  # seq 2
    bid(lot, log, "bob", 4_000)  # seq 3, answered by ann at 4,100 (seq 4)
    bid(lot, log, "cy", top=4_500)  # seq 5, answered by ann at 4,600 (seq 6)
    assert standing(lot) == (4_600, "ann", 5_000)
    voided = lot.decide_void(log, 3, T0 + 50, "root")
    assert isinstance(voided, BidVoided)
    assert voided.voided == [3, 4]  # bob's bid and the answer it caused
    lot.apply(voided)
    # without bob: ann's maximum against cy's: cy recorded at 4,500, ann at 4,600
    assert standing(lot) == (4_600, "ann", 5_000) and lot.bid_count == 3
    assert {b.seq for b in lot.recent} == {2, 5, 6}
    log.append(voided)
    again = lot.decide_void(log, 5, T0 + 60, "root")  # now cy's: ann alone, at the start
    assert isinstance(again, BidVoided) and again.voided == [5, 6]
    lot.apply(again)
    assert standing(lot) == (1_000, "ann", 5_000)
    log.append(again)
    for refused in (lot.decide_void(log, 3, T0 + 70, "root"), lot.decide_void(log, 9, 0, "r")):
        assert isinstance(refused, Refusal) and refused.code == "bad_request"


def test_voiding_the_leaders_maximum_hands_the_lot_back() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", 2_000)  # seq 2
    bid(lot, log, "bob", top=90_000)  # seq 3: a typo, leads at 2,100
    bid(lot, log, "cy", top=5_000)  # seq 4 at 5,000, bob's answer 5,100 (seq 5)
    voided = lot.decide_void(log, 3, T0 + 9, "root")
    assert isinstance(voided, BidVoided) and voided.voided == [3, 5]
    lot.apply(voided)
    assert standing(lot) == (2_100, "cy", 5_000)
    assert lot.ends_at is not None and lot.ends_at >= T0 + 9 + lot.spec.extend_ms
    auto = lot.decide_void([*log, voided], 5, T0 + 10, "root")
    assert isinstance(auto, Refusal)


def test_an_automatic_bid_cannot_be_voided_alone() -> None:
    lot, log = open_lot()
    bid(lot, log, "ann", top=5_000)
    bid(lot, log, "bob", 2_000)
    refused = lot.decide_void(log, 4, T0 + 9, "root")
    assert isinstance(refused, Refusal) and "placed by the house" in refused.message


def test_the_worked_examples_of_docs_protocol() -> None:
    """The table in docs/protocol.md, "Maximum bids, buy-now, reserve status", row by row."""

    def placed(decision: Bidding) -> list[tuple[str, int, bool]]:
        return [(e.bidder, e.amount, e.auto) for e in decision.events if isinstance(e, BidPlaced)]

    lot, log = open_lot()
    assert placed(bid(lot, log, "ann", top=5_000)) == [("ann", 1_000, False)]
    bob = bid(lot, log, "bob", top=3_000)
    assert placed(bob) == [("bob", 3_000, False), ("ann", 3_100, True)] and not bob.leading
    assert placed(bid(lot, log, "cy", 4_000)) == [("cy", 4_000, False), ("ann", 4_100, True)]
    assert placed(bid(lot, log, "cy", top=6_000)) == [("cy", 5_100, False)]
    tie, tie_log = open_lot()
    bid(tie, tie_log, "ann", top=3_000)
    assert placed(bid(tie, tie_log, "bob", top=3_000)) == [
        ("bob", 3_000, False),
        ("ann", 3_000, True),
    ]
    reserve, reserve_log = open_lot(reserve=4_000)
    assert placed(bid(reserve, reserve_log, "ann", top=3_000)) == [("ann", 1_000, False)]
    assert placed(bid(reserve, reserve_log, "ann", top=6_000)) == [("ann", 4_000, False)]
    assert reserve.reserve_met()
