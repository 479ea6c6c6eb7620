"""bench/metrics_cost.py, small: both of its measures run and count what they say. No timing is
asserted here; what it costs is what the benchmark prints (bench/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.test_loadgen import load

metrics_cost = load("metrics_cost")


def test_the_added_statements_are_each_timed() -> None:
    added = metrics_cost.added_ns(count=20_000)
    assert set(added) == {
        "clock_at_append",
        "observe_at_commit",
        "flag_when_heard",
        "flush_share",
        "total",
    }
    assert added["total"] == pytest.approx(sum(v for k, v in added.items() if k != "total"))


@pytest.mark.timeout(60)
async def test_the_bid_path_run_accepts_every_bid_it_times() -> None:
    per_bid = await metrics_cost._path_run(bids=600, inflight=200)  # asserts every bid accepted
    assert per_bid > 0


@pytest.mark.timeout(120)
def test_a_comparison_writes_both_sides(tmp_path: Path) -> None:
    here = Path(__file__).resolve().parents[2]  # this checkout, compared with itself
    metrics_cost.main(
        [
            "--bids",
            "400",
            "--inflight",
            "200",
            "--pairs",
            "1",
            "--compare",
            str(here),
            "--out-dir",
            str(tmp_path),
        ]
    )
    (written,) = tmp_path.glob("metrics-cost-*.json")
    result = json.loads(written.read_text())
    path = result["path_cpu_us_per_bid"]
    assert len(path["before"]) == len(path["with_metrics"]) == 1


async def test_a_scrape_is_timed_over_the_connections_given() -> None:
    assert await metrics_cost.scrape_ms(50, scrapes=2) > 0
