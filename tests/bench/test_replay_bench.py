"""bench/replay.py, small: it replays whole sales of a built store, page by page. No timing is
asserted here; speed is what the benchmark prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.test_loadgen import load

replay = load("replay")


@pytest.mark.timeout(30)
async def test_the_replay_bench_reads_every_event_of_a_sale_across_pages(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    replay.start.build(path, lots=20, bids=3, open_lots=0, open_bids=0)
    one_page = await replay.measure(str(path), repeat=1, limit=20_000)
    small_pages = await replay.measure(str(path), repeat=1, limit=4)
    # 10 sales of 2 lots: each lot's events (an opening, 3 bids, a close) in one page or many
    assert one_page["sale_pages"] == 1 and one_page["sale_events"] == 2 * 5
    assert small_pages["sale_events"] == one_page["sale_events"]
    assert small_pages["sale_pages"] == 3
