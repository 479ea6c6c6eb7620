"""`bidwire serve --demo` keeps its demo alive (issue 12, defect 8): the whole server, its real
clock made fast by its own settings; a watcher hears one run end and the next begin, and the
HTTP listing names the next run's start while it waits."""

from __future__ import annotations

import httpx
import pytest
from web_helpers import TcpJson, hello, recv_until, running_server

pytestmark = pytest.mark.timeout(60)


async def test_a_new_run_of_the_five_items_follows_the_end_of_the_last() -> None:
    fast = {
        "opening_seconds": 0.2,
        "extend_seconds": 0.2,
        "lot_gap_seconds": 0,
        "demo_pause_seconds": 2.0,
    }
    async with running_server(**fast) as ports:
        watcher = await TcpJson.connect(ports.tcp)
        try:
            await hello(watcher, "watcher")
            ended, _ = await recv_until(watcher, "sale_ended", timeout=15)
            assert ended["sale"] == "demo"
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http:
                sales = (await http.get("/api/sales")).json()["sales"]
            states = {s["sale"]: (s["state"], s["starts_at"]) for s in sales}
            # The pause has not run out yet (two seconds): the next run waits, its start named.
            state, starts_at = states["demo-2"]
            assert state == "scheduled" and starts_at == ended["ts"] + 2_000, states
            assert states["demo"][0] == "ended"
            started, _ = await recv_until(watcher, "sale_started", timeout=15)
            assert started["sale"] == "demo-2" and started["ts"] >= starts_at
            assert started["lots"][0] == "vintage-watch-2"
            opened, _ = await recv_until(watcher, "lot_opened", timeout=15)
            assert opened["lot"] == "vintage-watch-2"
        finally:
            await watcher.close()
