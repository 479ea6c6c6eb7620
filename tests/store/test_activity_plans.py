"""The reads of a person's events go by their partial indexes, as the store runs them (the SQL
of store/sqlite_activity.py itself, not a copy): on a million bids, reads that SQLite planned by
the log's primary key prefix (stream = 'lot') took 2 to 6 s (bench/pages.py, "my activity")."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bidwire.store.sqlite import connect, migrate
from bidwire.store.sqlite_activity import READS

pytestmark = pytest.mark.timeout(30)

PARAMS = {
    "bids_by": ("ann", 10),
    "bids_by before": ("ann", 5, 5, "lot", "lot", 3, 10),
    "best_bids": ("ann", 0),
    "won_by": ("ann", 10),
    "owed_by": ("ann",),
}


def plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> str:
    rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("name", sorted(READS))
def test_each_read_of_a_person_searches_its_index(tmp_path: Path, name: str) -> None:
    conn = connect(str(tmp_path / "p.db"), "NORMAL")
    migrate(conn)
    index = "events_winner" if name in ("won_by", "owed_by") else "events_bidder"
    shown = plan(conn, READS[name], PARAMS[name])
    assert f"SEARCH events USING INDEX {index}" in shown, shown
    assert "PRIMARY KEY" not in shown and "SCAN events" not in shown, shown
    conn.execute(READS[name], PARAMS[name]).fetchall()  # and it runs
    conn.close()
