"""bench/scenarios.py against a real bidwire, small: the figures exist and the acks are durable.

No timing is asserted here; speed is what the benchmarks print.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from tests.bench.test_loadgen import BENCH, harness, load

scenarios = load("scenarios")
BIDWIRE = Path(sys.executable).parent / "bidwire"


def _ns(tmp_path: Path, **extra: object) -> argparse.Namespace:
    base = {
        "bidwire": BIDWIRE,
        "duration": 1.0,
        "runs": 1,
        "timeout": 30.0,
        "server_cpu": None,
        "gen_cpu": None,
        "out_dir": tmp_path,
    }
    return argparse.Namespace(**(base | extra))


def test_answer_and_placed_patterns_take_any_field_order() -> None:
    line = b'{"id":7,"lot":"hot","code":"too_low","type":"bid_rejected","ts":1}\n'
    m = scenarios.ANSWER.search(line)
    assert m is not None and (m[1], m[2], m[3]) == (b"rejected", b"7", b"too_low")
    ok = scenarios.ANSWER.search(b'{"type":"bid_accepted","lot":"hot","amount":5,"id":8}\n')
    assert ok is not None and (ok[1], ok[2], ok[3]) == (b"accepted", b"8", None)
    placed = scenarios.PLACED.search(b'{"amount":12,"type":"bid_placed","lot":"lot3"}\n')
    assert placed is not None and (placed[1], placed[2]) == (b"lot3", b"12")


def test_catalog_has_the_busy_lots_and_a_quiet_one(tmp_path: Path) -> None:
    ids = harness.write_catalog(tmp_path / "c.json", 3, quiet=True)
    assert ids == ["lot0", "lot1", "lot2"]
    assert '"quiet"' in (tmp_path / "c.json").read_text()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_contention_with_maximums_acks_match_the_bids_own_rows(tmp_path: Path) -> None:
    ns = _ns(tmp_path, bidders=20, rates=[200.0], max_share=0.5, step=2)
    (run,) = harness.contention_once(ns)
    assert run["config"]["max_share"] == 0.5
    assert run["bids"]["accepted_total"] > 0 and run["bids"]["unanswered"] == 0
    check = run["durable_check"]
    assert check["acked_total"] == check["committed_rows"]


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_contention_acks_match_committed_rows(tmp_path: Path) -> None:
    ns = _ns(tmp_path, bidders=20, rates=[200.0])
    (run,) = harness.contention_once(ns)
    assert run["bids"]["accepted_total"] > 0
    assert run["bids"]["unanswered"] == 0
    check = run["durable_check"]
    assert check["acked_total"] == check["committed_rows"]


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_manylots_delivers_each_bid_to_its_lots_subscribers(tmp_path: Path) -> None:
    report = harness.manylots_once(_ns(tmp_path, lots=5, bidders=10, rate=50.0))
    assert report["bids"]["accepted_total"] > 0
    assert report["missed"] == 0
    assert report["staleness_ms"]["count"] == 2 * report["bids"]["accepted_total"]


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["json", "ws"])
def test_connections_are_held_and_measured(tmp_path: Path, transport: str) -> None:
    report = harness.connections_once(_ns(tmp_path, transport=transport, connections=50, hold=0.2))
    assert report["held"] == 50
    assert report["rss_per_conn_kib"] is not None


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_bidwire_fanout_is_stamped_at_acceptance(tmp_path: Path) -> None:
    """bench/stamped_bidwire.py still finds the engine's commit confirmation."""
    ns = _ns(tmp_path, bidwire=None, transport="json", watchers=20, bidders=2, rate=20.0)
    report = harness.bidwire_fanout_once(ns)
    bids, stale = report["bids"], report["staleness_ms"]
    acc = report["staleness_from_acceptance_ms"]
    assert bids["accepted"] > 0 and report["events"]["missed"] == 0
    assert acc["unstamped_bids"] == 0 and acc["count"] == stale["count"]
    assert 0 <= acc["p50"] <= stale["p50"] and acc["max"] <= stale["max"]


def test_bench_dir_is_where_the_scripts_are() -> None:
    assert (BENCH / "scenarios.py").exists()
