"""The node's numbers: histograms as plain ints, counters the house, the gate and the feed keep
on the bid path, and the exposition prometheus_client writes from them."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bidwire.accounts.limits import TokenBucket
from bidwire.clock import FakeClock
from bidwire.domain.commands import Accepted, Actor, PlaceBid
from bidwire.domain.lot import Refusal
from bidwire.engine.gate import Gate
from bidwire.metrics import LEASES, Histogram, lease_changed
from tests.engine.test_house import make_house, settle

ANN = Actor("ann")
BOB = Actor("bob")


def test_a_histogram_counts_each_value_in_the_first_bucket_it_fits() -> None:
    hist = Histogram((0.001, 0.01, 0.1))
    for value in (0.0005, 0.001, 0.002, 0.05, 0.1, 3.0):
        hist.observe(value)
    hist.observe_many(0.02, 4)
    # cumulative, as the exposition wants: le is "at most"
    assert hist.buckets() == [("0.001", 2), ("0.01", 3), ("0.1", 9), ("+Inf", 10)]
    assert hist.count == 10
    assert hist.total == pytest.approx(0.0005 + 0.001 + 0.002 + 0.05 + 0.1 + 3.0 + 0.08)


def test_a_histogram_refuses_bounds_out_of_order() -> None:
    with pytest.raises(ValueError, match="increasing"):
        Histogram((0.1, 0.01))
    with pytest.raises(ValueError, match="increasing"):
        Histogram(())


async def test_the_house_counts_accepted_bids_refusals_by_code_and_commit_latency() -> None:
    house, rec, _, store = await make_house()
    before = house.commit_latency.count
    placed = await house.place_bid(PlaceBid(ANN, "a", 100))
    assert isinstance(placed, Accepted)
    low = await house.place_bid(PlaceBid(BOB, "a", 100))
    assert isinstance(low, Refusal) and low.code == "too_low"
    lead = await house.place_bid(PlaceBid(ANN, "a", 500))
    assert isinstance(lead, Refusal) and lead.code == "already_leading"
    unknown = await house.place_bid(PlaceBid(BOB, "nope", 500))
    assert isinstance(unknown, Refusal) and unknown.code == "unknown_lot"
    store.fail_appends = True
    failed = await house.place_bid(PlaceBid(BOB, "a", 1_000))
    assert isinstance(failed, Refusal) and failed.code == "unavailable"
    store.fail_appends = False
    await settle(house, rec.feed)
    assert house.accepted_bids == 1
    assert house.refused_bids == {
        "too_low": 1,
        "already_leading": 1,
        "unknown_lot": 1,
        "unavailable": 1,
    }
    # the accepted bid's commit and the failed one's: each append resolved is timed
    assert house.commit_latency.count - before >= 2
    assert house.pending_commits == 0


async def test_the_store_queue_depth_is_what_was_appended_and_not_yet_committed() -> None:
    house, rec, _, _ = await make_house()
    answered: list[object] = []
    house.offer_bid(PlaceBid(ANN, "a", 100), answered.append)
    house.offer_bid(PlaceBid(BOB, "a", 200), answered.append)
    # the memory store resolves at once, but the callbacks run in a later loop turn
    assert house.pending_commits == 2
    await settle(house, rec.feed)
    assert house.pending_commits == 0
    assert [type(a) for a in answered] == [Accepted, Accepted]


def test_the_gate_counts_the_bids_it_refuses() -> None:
    clock = FakeClock()
    gate = Gate(clock, None, guests_allowed=True, bid_limiter=TokenBucket(1, 1))
    assert isinstance(gate.bid(None, "a", 100), Refusal)
    assert isinstance(gate.bid(Actor("ann", role="guest"), "a", 100), PlaceBid)
    assert isinstance(gate.bid(Actor("ann", role="guest"), "a", 100), Refusal)
    assert gate.refused_bids == {"not_authenticated": 1, "rate_limited": 1}


async def test_the_feed_times_each_event_from_heard_to_handed_out() -> None:
    house, rec, _, _ = await make_house()
    feed = rec.feed
    assert feed is not None
    before = feed.fanout_latency.count
    for amount in (100, 200, 300):
        house.offer_bid(PlaceBid(ANN if amount != 200 else BOB, "a", amount), lambda _: None)
    await settle(house, feed)
    assert feed.fanout_latency.count - before == 3
    assert 0 < feed.fanout_latency.total < 5


def test_lease_changes_are_counted_for_the_process() -> None:
    before = dict(LEASES.changes)
    lease_changed("acquired")
    lease_changed("lost")
    lease_changed("acquired")
    assert LEASES.changes["acquired"] - before["acquired"] == 2
    assert LEASES.changes["lost"] - before["lost"] == 1


async def test_the_exposition_parses_and_carries_the_node_s_numbers() -> None:
    from prometheus_client import generate_latest

    from bidwire.node import Node, registry_for
    from bidwire.transports.session import SessionContext

    house, rec, clock, _ = await make_house()
    assert rec.feed is not None
    gate = Gate(clock, None, guests_allowed=True, bid_limiter=TokenBucket(100, 100))
    ctx = SessionContext(house, rec.feed, clock, gate, node=Node(name="test-node"))
    await house.place_bid(PlaceBid(ANN, "a", 100))
    await house.place_bid(PlaceBid(BOB, "a", 100))
    gate.bid(None, "a", 1)
    await settle(house, rec.feed)
    text = generate_latest(registry_for(ctx)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[("bidwire_bids_accepted_total", ())] == 1
    assert samples[("bidwire_bids_refused_total", (("code", "too_low"),))] == 1
    assert samples[("bidwire_bids_refused_total", (("code", "not_authenticated"),))] == 1
    assert samples[("bidwire_bids_refused_total", (("code", "rate_limited"),))] == 0
    assert samples[("bidwire_node_info", (("node", "test-node"),))] == 1
    assert samples[("bidwire_bus_lag_seconds_count", ())] == 0  # memory://: nothing to lag
    assert samples[("bidwire_commit_latency_seconds_count", ())] >= 1
    assert samples[("bidwire_ready", ())] == 1
    assert families["bidwire_commit_latency_seconds"].type == "histogram"
    assert "process_cpu_seconds" in families
    await asyncio.sleep(0)
