"""bench/start.py, small: the store it builds is what it says, and a start loads it from
snapshots. No timing is asserted here; speed is what the benchmark prints."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.bench.test_loadgen import load

start = load("start")


@pytest.mark.timeout(30)
async def test_the_built_store_loads_every_lot_and_only_the_window_keys(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    built = start.build(path, lots=20, bids=30, open_lots=3, open_bids=5)
    assert built["snapshots"] and built["events"] == 20 * 32 + 3 * 6
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM lot_state WHERE snapshot IS NULL").fetchone() == (0,)
    conn.close()
    measured = await start.measure_load(str(path))
    assert (measured["lots"], measured["open_lots"]) == (23, 3)
    assert measured["request_keys"] == 3 * 5  # the closed lots' keys are a month old
