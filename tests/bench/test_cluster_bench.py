"""bench/cluster.py, small, on the machine's PostgreSQL and Redis: three real nodes take a hot
lot's bids at every node (each node's acks timed apart, every ack a row in the store), the
fan-out counts every node's CPU, and each run leaves no schema and no Redis key behind. No
timing is asserted here; speed is what the benchmark prints."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg
import pytest
import redis

from tests.bench.test_loadgen import load
from tests.bus.redis_helpers import require_redis
from tests.store.pg import SERVER, skip_or_fail, why_not

cluster = load("cluster")
BIDWIRE = Path(sys.executable).parent / "bidwire"

pytestmark = pytest.mark.timeout(120)


def test_a_layout_is_a_count_of_nodes_and_of_the_nodes_with_clients() -> None:
    assert cluster.layout("3") == (3, 3) and cluster.layout("3:1") == (3, 1)
    for bad in ("0", "2:3", "3:0"):
        with pytest.raises(ValueError, match="a layout is N or N:M"):
            cluster.layout(bad)


@pytest.fixture
def ns(tmp_path: Path) -> argparse.Namespace:
    if (reason := asyncio.run(why_not(SERVER))) is not None:
        skip_or_fail(reason)
    return argparse.Namespace(
        bidwire=BIDWIRE,
        postgres=SERVER,
        redis=require_redis(),
        duration=1.0,
        timeout=60.0,
        out_dir=tmp_path,
        profile=None,
        warmup=True,
        bidders=30,
        rate=100.0,
        watchers=30,
        idle=0.5,
    )


async def bench_leftovers(redis_url: str) -> tuple[set[str], int]:
    conn = await asyncpg.connect(SERVER)
    try:
        rows = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bw\\_bench\\_%'"
        )
    finally:
        await conn.close()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = sum(1 for _ in client.scan_iter(match="bw_bench_*", count=1_000))
    finally:
        client.close()
    return {str(r[0]) for r in rows}, keys


def test_three_nodes_take_a_hot_lots_bids_at_every_node_each_ack_a_row(
    ns: argparse.Namespace,
) -> None:
    schemas, _ = asyncio.run(bench_leftovers(ns.redis))
    report = cluster.hot_once(ns, "3")
    assert report["nodes"] == 3 and report["bids"]["unanswered"] == 0
    assert report["bids"]["accepted_total"] > 0
    # every node answered bids of its own clients, the owner's and the forwarded ones
    assert set(report["ack_by_port_ms"]) == {str(p) for p in report["node_ports"]}
    check = report["durable_check"]
    assert check["acked_total"] == check["committed_rows"]
    after, keys = asyncio.run(bench_leftovers(ns.redis))
    assert after <= schemas and keys == 0, "each run drops its schema and its keys"


def test_the_fanout_sums_every_nodes_cpu_per_delivered_event(ns: argparse.Namespace) -> None:
    report = cluster.fanout_once(ns, "3:1")
    assert report["layout"] == "3:1" and len(report["server"]["cpu_s_each"]) == 3
    assert report["events"]["missed"] == 0 and report["events"]["bid_events_per_s"] > 0
    assert report["cpu_us_per_event"] > 0 and report["idle_cpu_fraction"] >= 0
