"""bench/bigstore.py and bench/pages.py, small: the store holds what the build says, the server
starts on it and answers every page it has. No timing is asserted; the bench prints speed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec
import pytest

from bidwire.domain.lot import Lot
from bidwire.store.base import EVENT_DECODER, SNAPSHOT_DECODER
from bidwire.store.sqlite import MIGRATIONS
from tests.bench.test_loadgen import load

bigstore = load("bigstore")
pages = load("pages")


@pytest.mark.timeout(60)
def test_the_big_store_holds_what_its_build_says(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    built = bigstore.build(path, bids=6_000, lots=60, sales=3, seed=3)
    assert built.summary() == bigstore.built_of(path).summary()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    (bids,) = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'bid_placed'").fetchone()
    assert bids == built.bids == 6_000
    closes = dict(
        conn.execute(
            "SELECT json_extract(CAST(body AS TEXT), '$.reason'), COUNT(*) FROM events"
            " WHERE type = 'lot_closed' GROUP BY 1"
        ).fetchall()
    )
    assert closes == built.closes and sum(closes.values()) == 60
    assert {"hammer", "reserve_not_met", "no_bids"} <= set(closes)
    (voids,) = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'bid_voided'").fetchone()
    assert voids == built.voids
    (auto,) = conn.execute(
        "SELECT COUNT(*) FROM events WHERE type = 'bid_placed'"
        " AND json_extract(CAST(body AS TEXT), '$.auto') = 1"
    ).fetchone()
    assert auto == built.auto > 0
    assert len(built.anonymous) == 2
    # every lot's log replays to the snapshot its state row holds (the server starts on it)
    from bidwire.store.base import lot_spec_from_record

    for lot_id, sale_id, spec, snapshot in conn.execute(
        "SELECT l.id, l.sale_id, l.spec, s.snapshot FROM lots l JOIN lot_state s ON s.lot_id = l.id"
    ).fetchall():
        lot = Lot(lot_spec_from_record(json.loads(spec)), sale_id, "timed")
        for (body,) in conn.execute(
            "SELECT body FROM events WHERE stream = 'lot' AND lot_id = ? ORDER BY seq", (lot_id,)
        ):
            lot.apply(EVENT_DECODER.decode(body))
        assert msgspec.structs.asdict(lot.snapshot()) == msgspec.structs.asdict(
            SNAPSHOT_DECODER.decode(snapshot)
        )
        assert lot.status == "closed"
    # the same seed builds the same store
    again = bigstore.build(tmp_path / "again.db", bids=6_000, lots=60, sales=3, seed=3)
    timings = {"path": "", "build_s": 0, "keep_s": 0}
    assert {**again.summary(), **timings} == {**built.summary(), **timings}
    # and the report facts of every closed lot are kept, as a server keeps them at its closes
    (kept,) = conn.execute("SELECT COUNT(*) FROM report_lots").fetchone()
    assert kept == built.lots


@pytest.mark.timeout(120)
def test_the_pages_bench_answers_every_page_the_server_has(tmp_path: Path) -> None:
    doc = pages.main(["--quick", "--out-dir", str(tmp_path)])
    (written,) = tmp_path.glob("pages-run-quick-*.json")
    assert json.loads(written.read_text())["summary"] == doc["summary"]
    summary = doc["summary"]
    assert set(summary) == {page.name for page in pages.PAGES} | {"server start"}
    asked = {name: e for name, e in summary.items() if "skipped" not in e and "path" in e}
    # the pages session 6 made are there; the others are either asked or skipped with a note
    made = ["sale report", "results", "settlement (CSV)", "lot bids, next page", "my activity"]
    made.append("my activity, next page")
    for name in made:
        assert name in asked, summary[name]
    for name, entry in summary.items():
        if "skipped" in entry:
            assert "has no route" in entry["skipped"]
        elif name != "server start":
            assert entry["status"] == [200], (name, entry)
            assert entry["bytes"] > 50 and entry["ms"]["min"] <= entry["ms"]["median"]
