"""Issue 13, point 6 (the server's part): a closed lot's and a sale's replay, read from the log
as the public saw it: every event in order, pseudonyms in an anonymous sale, no maximum, voided
bids marked, an open lot refused, pages that join up to the whole (memory store and SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.store.any_store import KINDS, store_of
from web_helpers import GuestTokens, InProcess, in_process

from bidwire.domain.lot import LotSpec
from bidwire.domain.privacy import pseudonym
from bidwire.domain.sale import SaleSpec
from bidwire.store.memory import MemoryStore
from bidwire.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(60)
MINUTE = 60_000

TIMED = {"opening_ms": MINUTE, "extend_ms": 10_000, "starting_price": 1_000}
SPRING = SaleSpec("spring", "Spring Sale", ("clock", "vase", "desk"), mode="timed")
QUIET = SaleSpec("quiet", "Quiet Sale", ("ring",), mode="timed", anonymous=True)


@contextlib.asynccontextmanager
async def server_on(kind: str, tmp_path: Path) -> AsyncIterator[InProcess]:
    async with contextlib.AsyncExitStack() as stack:
        if kind == "postgres":
            store: Any = await stack.enter_async_context(store_of(kind, tmp_path))
        elif kind == "sqlite":
            store = await stack.enter_async_context(SqliteStore(str(tmp_path / "r.db")))
        else:
            store = MemoryStore()
        server = await stack.enter_async_context(in_process(demo=False, store=store))
        house = server.ctx.house
        lots = [
            LotSpec("clock", "Mantel Clock", **TIMED),  # type: ignore[arg-type]
            LotSpec("vase", "Blue Vase", **TIMED),  # type: ignore[arg-type]
            LotSpec("desk", "Oak Desk", **{**TIMED, "opening_ms": 10 * MINUTE}),  # type: ignore[arg-type]
        ]
        await house.add_sale(SPRING, lots)
        ring = LotSpec("ring", "Silver Ring", **TIMED)  # type: ignore[arg-type]
        await house.add_sale(QUIET, [ring])
        yield server


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


class Guests:
    def __init__(self, http: Any) -> None:
        self.http, self.tokens = http, GuestTokens()

    async def bid(self, lot: str, who: str, **body: int) -> dict[str, Any]:
        sent = self.tokens.body({"bidder": who, **body})
        reply = self.tokens.keep(sent, await self.http.post(f"/api/lots/{lot}/bids", json=sent))
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer


async def scripted(server: InProcess, admin: Any, anyone: Any) -> dict[str, int]:
    """Bids on clock (a maximum, an automatic answer, a void, a late bid that extends), vase
    and ring; then clock, vase and ring close, desk stays open. Returns the voided seq."""
    guests = Guests(anyone)
    house = server.ctx.house
    house.start()
    await settled(server)
    await guests.bid("clock", "gus", amount=1_000, max_amount=3_000)  # gus: maximum 30.00
    await guests.bid("clock", "ivy", amount=1_500)  # gus answers at once, automatically
    typo = await guests.bid("clock", "ivy", amount=9_000)
    await settled(server)
    voided = await admin.post("/api/admin/lots/clock/void", json={"seq": typo["seq"]})
    assert voided.status_code == 200, voided.text
    server.clock.advance(MINUTE - 5_000)  # five seconds left: a bid now extends the deadline
    await guests.bid("clock", "hal", amount=4_000)
    await guests.bid("vase", "ivy", amount=1_000)
    await guests.bid("ring", "gus", amount=1_000, max_amount=5_000)
    await guests.bid("ring", "ivy", amount=2_000)
    await settled(server)
    server.clock.advance(MINUTE)
    house.run_due()
    await settled(server)
    return {"voided": int(typo["seq"])}


@pytest.mark.parametrize("kind", KINDS)
async def test_a_closed_lots_replay_is_its_public_log_in_order(kind: str, tmp_path: Path) -> None:
    async with (
        server_on(kind, tmp_path) as server,
        server.client(server.admin_token) as admin,
        server.client() as anyone,
    ):
        marks = await scripted(server, admin, anyone)
        reply = await anyone.get("/api/lots/clock/replay")
        assert reply.status_code == 200, reply.text
        replay = reply.json()
        assert (replay["lot"], replay["sale"], replay["title"], replay["currency"]) == (
            "clock",
            "spring",
            "Mantel Clock",
            "USD",
        )
        events = replay["events"]
        types = [e["type"] for e in events]
        assert types[0] == "lot_opened" and types[-1] == "lot_closed"
        assert types.count("bid_voided") == 1
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        bids = [e for e in events if e["type"] == "bid_placed"]
        assert [(b["bidder"], b["amount"], b.get("auto", False)) for b in bids] == [
            ("gus", 1_000, False),
            ("ivy", 1_500, False),
            ("gus", 1_550, True),  # the house, for gus's maximum
            ("ivy", 9_000, False),  # later voided
            ("hal", 4_000, False),
        ]
        assert replay["voided"] == [marks["voided"]]
        assert all("max_amount" not in e for e in events), "a maximum must never be replayed"
        # hal's late bid moved the deadline: the replay carries the ends_at it moved to
        late = bids[-1]
        assert late["ends_at"] > bids[0]["ends_at"]
        closed = events[-1]
        assert (closed["winner"], closed["amount"], closed["reason"]) == ("hal", 4_000, "hammer")
        assert replay["next_after_seq"] is None

        # Pages of two join up to the whole.
        joined, after, pages = [], 0, 0
        while after is not None and pages < 20:
            page = (await anyone.get(f"/api/lots/clock/replay?after_seq={after}&limit=2")).json()
            assert len(page["events"]) <= 2
            assert page["voided"] == [marks["voided"]]  # known from the first page on
            joined += page["events"]
            after, pages = page["next_after_seq"], pages + 1
        assert joined == events and pages > 2


@pytest.mark.parametrize("kind", KINDS)
async def test_an_anonymous_sales_replay_names_pseudonyms_and_hides_maximums(
    kind: str, tmp_path: Path
) -> None:
    async with (
        server_on(kind, tmp_path) as server,
        server.client(server.admin_token) as admin,
        server.client() as anyone,
    ):
        await scripted(server, admin, anyone)
        for client in (anyone, admin):  # a replay is public, whoever reads it
            replay = (await client.get("/api/lots/ring/replay")).json()
            text = str(replay)
            assert "gus" not in text and "ivy" not in text and "5000" not in text
            salt = server.ctx.house.sales["quiet"].spec.pseudonym_salt
            bids = [e for e in replay["events"] if e["type"] == "bid_placed"]
            assert {b["bidder"] for b in bids} == {pseudonym(salt, "gus"), pseudonym(salt, "ivy")}
            assert replay["events"][-1]["winner"] == pseudonym(salt, "gus")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_sales_replay_holds_its_closed_lots_in_pages_that_join_up(
    kind: str, tmp_path: Path
) -> None:
    async with (
        server_on(kind, tmp_path) as server,
        server.client(server.admin_token) as admin,
        server.client() as anyone,
    ):
        await scripted(server, admin, anyone)
        whole = (await anyone.get("/api/sales/spring/replay")).json()
        assert (whole["sale"], whole["title"], whole["mode"]) == ("spring", "Spring Sale", "timed")
        assert [lot["lot"] for lot in whole["lots"]] == ["clock", "vase"]
        assert whole["pending"] == ["desk"], "an open lot is named, not replayed"
        assert whole["next_after"] is None
        clock = (await anyone.get("/api/lots/clock/replay")).json()
        assert whole["lots"][0]["events"] == clock["events"]
        assert whole["lots"][0]["voided"] == clock["voided"]

        for limit in (1, 3, 7):
            joined: dict[str, list[Any]] = {}
            after: str | None = None
            for _ in range(100):
                url = f"/api/sales/spring/replay?limit={limit}"
                page = (await anyone.get(url + (f"&after={after}" if after else ""))).json()
                assert sum(len(lot["events"]) for lot in page["lots"]) <= limit
                for lot in page["lots"]:
                    joined.setdefault(lot["lot"], []).extend(lot["events"])
                    assert lot["voided"] == next(
                        w["voided"] for w in whole["lots"] if w["lot"] == lot["lot"]
                    )
                after = page["next_after"]
                if after is None:
                    break
            assert after is None, "the pages never ended"
            assert joined == {lot["lot"]: lot["events"] for lot in whole["lots"]}


async def test_an_open_lot_an_unknown_one_and_a_bad_cursor_are_refused_in_words(
    tmp_path: Path,
) -> None:
    async with (
        server_on("memory", tmp_path) as server,
        server.client(server.admin_token) as admin,
        server.client() as anyone,
    ):
        await scripted(server, admin, anyone)
        cases = {
            "/api/lots/desk/replay": (409, "not_closed"),
            "/api/lots/nope/replay": (404, "unknown_lot"),
            "/api/sales/nope/replay": (404, "unknown_sale"),
            "/api/sales/spring/replay?after=x": (422, "bad_request"),
            "/api/sales/spring/replay?after=9:0": (422, "bad_request"),
            "/api/sales/spring/replay?limit=0": (422, "bad_request"),
            "/api/sales/spring/replay?limit=20001": (422, "bad_request"),
            "/api/lots/clock/replay?after_seq=-1": (422, "bad_request"),
        }
        for url, (status, code) in cases.items():
            reply = await anyone.get(url)
            assert (reply.status_code, reply.json()["code"]) == (status, code), url
            assert reply.json()["message"], url
        assert "closed" in (await anyone.get("/api/lots/desk/replay")).json()["message"]
