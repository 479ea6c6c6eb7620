"""Integrity signals (engine/integrity.py): the pure rules over scripted sales, without an
event loop. The shill of issue 13 bids early and often, takes the lead back at once, stops
before the end and never wins; honest bidders bid later, slower, and one of them wins."""

from __future__ import annotations

import pytest

from bidwire.domain.events import BidPlaced, BidVoided, LotClosed, LotEvent, LotOpened
from bidwire.engine.integrity import (
    FEATURES,
    LISTED_BIDDERS,
    WEIGHTS,
    IntegrityPolicy,
    SaleTrack,
    report_of,
    score_sale,
)

T0 = 1_000_000
EXTEND = 10_000

Plan = dict[str, list[tuple[int, str]]]
"""Per lot: (ms after its opening, bidder) in time order."""

SHILL_SALE: Plan = {
    # the shill "sam" opens each lot, answers every honest bid within a second, and stops
    # halfway; the honest bidders take seconds to answer, and the last of them wins
    "a": [
        (1_000, "sam"),
        (10_000, "hal"),
        (10_800, "sam"),
        (20_000, "ida"),
        (21_000, "sam"),
        (35_000, "hal"),
        (35_900, "sam"),
        (50_000, "joe"),
        (51_000, "sam"),
        (70_000, "ida"),
        (85_000, "hal"),
        (95_000, "ida"),
    ],
    "b": [
        (800, "sam"),
        (12_000, "ida"),
        (12_700, "sam"),
        (30_000, "joe"),
        (30_600, "sam"),
        (44_000, "hal"),
        (44_500, "sam"),
        (66_000, "joe"),
        (80_000, "hal"),
        (92_000, "joe"),
        (99_000, "hal"),
    ],
    "c": [
        (1_500, "sam"),
        (15_000, "joe"),
        (15_900, "sam"),
        (33_000, "hal"),
        (34_000, "sam"),
        (60_000, "ida"),
        (75_000, "joe"),
        (88_000, "ida"),
        (97_000, "joe"),
    ],
}

HONEST_SALE: Plan = {
    # ordinary bidding, a sniping war in the last twenty seconds, and a bidder who tried
    # once early and gave up
    "a": [
        (5_000, "kim"),
        (30_000, "lea"),
        (52_000, "kim"),
        (80_000, "max"),
        (82_000, "lea"),
        (84_000, "max"),
        (86_000, "lea"),
        (88_000, "max"),
        (90_000, "lea"),
    ],
    "b": [
        (2_000, "ned"),
        (40_000, "kim"),
        (61_000, "max"),
        (70_000, "kim"),
        (90_000, "max"),
    ],
    "c": [
        (20_000, "lea"),
        (45_000, "max"),
        (60_000, "lea"),
        (62_000, "max"),
        (64_000, "lea"),
        (66_000, "max"),
        (68_000, "lea"),
    ],
}


def events_of(
    plan: Plan, *, close: bool = True, until: int | None = None, sale: str = "s"
) -> dict[str, list[LotEvent]]:
    """Each lot's log: opened at T0, the plan's bids (amounts rising; those by ``until`` ms
    only), closed sold to the last bidder ``EXTEND`` after the last bid."""
    out: dict[str, list[LotEvent]] = {}
    for lot, planned in plan.items():
        bids = [(at, who) for at, who in planned if until is None or at <= until]
        log: list[LotEvent] = [LotOpened(lot, 1, sale, lot, "", "USD", 100, 100, T0 + 60_000, T0)]
        for i, (at, bidder) in enumerate(bids):
            ts = T0 + at
            log.append(BidPlaced(lot, len(log) + 1, 100 + 10 * i, bidder, ts + EXTEND, 0, ts))
        if close:
            last_at, winner = bids[-1]
            log.append(
                LotClosed(
                    lot,
                    len(log) + 1,
                    "sold",
                    winner,
                    100 + 10 * (len(bids) - 1),
                    T0 + last_at + EXTEND,
                )
            )
        out[lot] = log
    return out


def track_of(plan: Plan, *, close: bool = True, until: int | None = None) -> SaleTrack:
    track = SaleTrack("s")
    for log in events_of(plan, close=close, until=until).values():
        for event in log:
            track.apply(event)
    return track


def end_of(plan: Plan) -> int:
    return T0 + max(bids[-1][0] for bids in plan.values()) + EXTEND


def test_the_shill_is_flagged_and_nobody_else() -> None:
    scores = score_sale(track_of(SHILL_SALE), end_of(SHILL_SALE))
    flagged = [s.bidder for s in scores if s.flagged]
    assert flagged == ["sam"]
    sam = scores[0]
    assert sam.bidder == "sam" and sam.score >= 0.7, sam
    assert sam.wins == 0 and sam.lots == 3
    # what raised it: it took the lead back at once, never won, came first and stopped early
    assert {"successive_outbidding", "winning_ratio", "early_bidding", "last_bidding"} <= set(
        sam.raised_by
    )
    assert sam.features.successive_outbidding == pytest.approx(9 / 12, abs=1e-3)
    assert sam.features.winning_ratio == 1.0
    for honest in scores[1:]:
        assert honest.score < 0.55, honest
        assert honest.wins == 1  # each honest bidder won one lot
        assert honest.features.successive_outbidding == 0.0


def test_an_honest_sale_flags_nobody() -> None:
    scores = score_sale(track_of(HONEST_SALE), end_of(HONEST_SALE))
    assert {s.bidder for s in scores} == {"kim", "lea", "max", "ned"}
    assert [s.bidder for s in scores if s.flagged] == []
    lea = next(s for s in scores if s.bidder == "lea")
    assert lea.features.successive_outbidding > 0.5  # the war answered fast: not enough alone
    ned = next(s for s in scores if s.bidder == "ned")
    assert ned.bids == 1  # one early bid, given up: under min_bids whatever its score


def test_the_score_is_the_documented_weighted_mean() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert set(WEIGHTS) == set(FEATURES)
    for s in score_sale(track_of(SHILL_SALE), end_of(SHILL_SALE)):
        values = {name: getattr(s.features, name) for name in FEATURES}
        assert all(0 <= v <= 1 for v in values.values())
        assert s.score == pytest.approx(sum(WEIGHTS[n] * values[n] for n in FEATURES), abs=1e-3)


def test_features_by_hand_on_one_lot() -> None:
    # one lot 0..100 s: ann at 10 s, bob 1 s later (quick), ann 20 s later, closed to ann at
    # its deadline (100 s), though the close was written 5 s late
    end = T0 + 100_000
    track = SaleTrack("s")
    track.apply(LotOpened("x", 1, "s", "x", "", "USD", 100, 100, T0 + 60_000, T0))
    track.apply(BidPlaced("x", 2, 100, "ann", end, 0, T0 + 10_000))
    track.apply(BidPlaced("x", 3, 110, "bob", end, 0, T0 + 11_000))
    track.apply(BidPlaced("x", 4, 120, "ann", end, 0, T0 + 31_000))
    track.apply(LotClosed("x", 5, "sold", "ann", 120, end + 5_000))
    by = {s.bidder: s for s in score_sale(track, end + 60_000)}
    bob, ann = by["bob"].features, by["ann"].features
    assert bob.bidding_ratio == pytest.approx(1 / 3, abs=1e-3)
    assert bob.successive_outbidding == 1.0
    assert bob.early_bidding == pytest.approx(0.89)
    assert bob.last_bidding == pytest.approx(0.89)
    assert bob.auction_bids == 1.0
    assert bob.winning_ratio == 1.0
    assert ann.bidding_ratio == pytest.approx(2 / 3, abs=1e-3)
    assert ann.successive_outbidding == 0.0  # 20 s after bob's: not at once
    assert ann.early_bidding == pytest.approx(0.9)
    assert ann.last_bidding == pytest.approx(0.69)
    assert ann.winning_ratio == 0.0
    assert by["ann"].wins == 1 and by["bob"].wins == 0


def test_a_running_sale_is_scored_so_far_and_a_leader_wins_so_far() -> None:
    # at 55 s sam leads every lot (its last bids: 51, 44.5 and 34 s): winning so far
    early_track = track_of(SHILL_SALE, close=False, until=55_000)
    early = {s.bidder: s for s in score_sale(early_track, T0 + 55_000)}
    assert early["sam"].features.winning_ratio == 0.0
    assert not early["sam"].flagged
    # at 80 s honest bidders lead all three and sam has stopped: flagged while running
    track = track_of(SHILL_SALE, close=False, until=80_000)
    later = {s.bidder: s for s in score_sale(track, T0 + 80_000)}
    assert later["sam"].flagged and later["sam"].features.winning_ratio == 1.0
    assert [b for b, s in later.items() if s.flagged] == ["sam"]
    assert later["sam"].wins == 0  # nothing has closed


def test_a_voided_bid_counts_for_nothing() -> None:
    track = track_of(SHILL_SALE, close=False)  # bids of open lots only may be voided
    before = {s.bidder: s for s in score_sale(track, end_of(SHILL_SALE))}
    # void every bid of sam on lot a (seqs of the plan's sam bids)
    seqs = [i + 2 for i, (_, who) in enumerate(SHILL_SALE["a"]) if who == "sam"]
    lot_a = track.lots["a"]
    track.apply(BidVoided("a", lot_a.seq + 1, seqs, 100, "hal", 100, 0, 0, "root", T0))
    after = {s.bidder: s for s in score_sale(track, end_of(SHILL_SALE))}
    assert after["sam"].bids == before["sam"].bids - len(seqs)
    assert after["sam"].lots == 2
    assert after["hal"].features.bidding_ratio > before["hal"].features.bidding_ratio


def test_a_closed_lot_keeps_its_sums_and_not_its_bids() -> None:
    track = track_of(SHILL_SALE)
    assert all(lot.open_bids == 0 and lot.parts for lot in track.lots.values())
    running = track_of(SHILL_SALE, close=False)
    assert running.lots["a"].open_bids == len(SHILL_SALE["a"])  # kept while a void may come


def test_events_seen_twice_count_once() -> None:
    track = track_of(SHILL_SALE)
    once = score_sale(track, end_of(SHILL_SALE))
    for log in events_of(SHILL_SALE).values():
        for event in log:
            track.apply(event)  # a start reads the log while the bus is heard
    assert score_sale(track, end_of(SHILL_SALE)) == once


def test_withdrawn_lots_count_for_no_ones_winning_ratio() -> None:
    track = SaleTrack("s")
    track.apply(LotOpened("x", 1, "s", "x", "", "USD", 100, 100, T0 + 60_000, T0))
    track.apply(BidPlaced("x", 2, 100, "ann", 0, 0, T0 + 10_000))
    track.apply(LotClosed("x", 3, "unsold", None, None, T0 + 20_000, "withdrawn", "root"))
    (ann,) = score_sale(track, T0 + 20_000)
    assert ann.features.winning_ratio == 0.0


def test_the_threshold_is_a_setting_and_must_be_finite() -> None:
    strict = IntegrityPolicy(threshold=0.3)
    flagged = [s.bidder for s in score_sale(track_of(HONEST_SALE), T0 + 200_000, strict)]
    assert flagged  # the same sale: a lower threshold flags more
    assert any(s.flagged for s in score_sale(track_of(HONEST_SALE), T0 + 200_000, strict))
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            IntegrityPolicy(threshold=bad)


def crowded_track(bidders: int) -> SaleTrack:
    """One lot, the shill's three lots of SHILL_SALE, and ``bidders`` people bidding once each
    on a lot of their own in between (never flagged: under min_bids)."""
    plan: Plan = dict(SHILL_SALE)
    plan["crowd"] = [(1_000 + 10 * i, f"p{i:04d}") for i in range(bidders)]
    return track_of(plan)


def test_a_report_lists_the_first_bidders_and_counts_them_all() -> None:
    track = crowded_track(300)
    now = end_of(SHILL_SALE) + 60_000
    everyone = score_sale(track, now)
    assert len(everyone) == 304
    report = report_of(track, now, IntegrityPolicy(), live=True)
    assert report.bidders_total == 304 and len(report.bidders) == LISTED_BIDDERS == 100
    assert report.bidders == everyone[:100]  # the same order and the same figures
    assert report.flagged == 1 and report.bidders[0].bidder == "sam"
    few = report_of(track, now, IntegrityPolicy(), live=True, limit=3)
    assert few.bidders == everyone[:3] and few.bidders_total == 304
    assert score_sale(track, now, limit=5) == everyone[:5]


def test_a_flagged_bidder_is_listed_however_many_score_higher_unflagged() -> None:
    # flagged first: the listing never hides a flag behind higher unflagged scores
    strict = IntegrityPolicy(min_bids=12)  # only sam bids 12 times
    report = report_of(crowded_track(150), end_of(SHILL_SALE), strict, live=True, limit=1)
    assert [b.bidder for b in report.bidders] == ["sam"] and report.flagged == 1
