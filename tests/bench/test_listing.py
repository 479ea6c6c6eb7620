"""bench/listing.py, small: it reads the listings and closed snapshots of a built store. No
timing is asserted here; speed is what the benchmark prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.test_loadgen import load

listing = load("listing")


@pytest.mark.timeout(30)
async def test_the_listing_bench_reads_every_lot_and_closed_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    listing.start.build(path, lots=20, bids=3, open_lots=2, open_bids=1)
    measured = await listing.measure(str(path), repeat=1, snapshots=2)
    assert measured["lots_listed"] == 22 and measured["sales_bytes"] > measured["lots_bytes"]
