"""The demo stays alive (issue 12, defect 8): when a run of the five items ends, the next is
scheduled at once, a pause later, and starts by itself; finished runs do not pile up."""

from __future__ import annotations

from bidwire.bus.base import Message
from bidwire.catalog import Defaults
from bidwire.demo import DemoRuns, run_number
from bidwire.domain.events import SaleEnded
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.engine.queries import Queries
from tests.engine.test_house import Recorder, make_house, settle

DEFAULTS = Defaults(opening_seconds=30, extend_seconds=10, gap_seconds=2)
PAUSE_MS = 20_000


async def run_out(house: AuctionHouse, rec: Recorder, clock: object, sale_id: str) -> None:
    """Nobody bids: each lot's opening window runs out, then the gap, until the sale ends."""
    for _ in range(20):
        if house.sales[sale_id].ended_at is not None:
            break
        clock.advance(30_000)  # type: ignore[attr-defined]
        house.run_due()
        await settle(house, rec.feed)
    assert house.sales[sale_id].ended_at is not None, f"{sale_id} did not end"


async def listed(house: AuctionHouse) -> list[tuple[str, str, int | None]]:
    page = await Queries(house).sales()
    return [(s.sale, s.state, s.starts_at) for s in page.sales]


async def test_the_next_run_is_scheduled_before_the_end_is_announced_and_starts_alone() -> None:
    house, rec, clock, _store = await make_house(add=False)
    seen_at_the_end: list[list[tuple[str, str, int | None]]] = []

    def on_message(message: Message) -> None:
        if isinstance(message.event, SaleEnded):
            # what a page reading /api/sales on hearing the end would find
            seen_at_the_end.append(
                [(s.id, s.status, s.spec.starts_at) for s in house.sales.values()]
            )

    house.bus.subscribe(on_message)
    demo = DemoRuns(house, DEFAULTS, PAUSE_MS)
    await demo.begin(now=True)
    await settle(house, rec.feed)
    assert [s for s, *_ in await listed(house)] == ["demo"]
    assert house.lots["vintage-watch"].status == "open"

    await run_out(house, rec, clock, "demo")
    ended_at = house.sales["demo"].ended_at
    assert ended_at is not None
    assert seen_at_the_end == [
        [("demo", "ended", None), ("demo-2", "scheduled", ended_at + PAUSE_MS)]
    ]
    # Nothing opens during the pause; then the second run starts by itself.
    clock.advance(PAUSE_MS - 1)
    house.run_due()
    await settle(house, rec.feed)
    assert house.sales["demo-2"].started_at is None
    clock.advance(1)
    house.run_due()
    await settle(house, rec.feed)
    assert house.sales["demo-2"].status == "running"
    assert house.lots["vintage-watch-2"].status == "open"
    assert house.sales["demo-2"].spec.title == "Demo sale, run 2"
    started = [m for m in rec.messages if m["type"] == "sale_started"]
    assert [m["sale"] for m in started] == ["demo", "demo-2"]


async def test_finished_runs_do_not_pile_up_in_the_lists_even_after_a_restart() -> None:
    house, rec, clock, store = await make_house(add=False)
    demo = DemoRuns(house, DEFAULTS, PAUSE_MS)
    await demo.begin(now=True)
    for run in ("demo", "demo-2", "demo-3"):
        clock.advance(PAUSE_MS)
        house.run_due()
        await settle(house, rec.feed)
        await run_out(house, rec, clock, run)
    # The latest finished run (its results) and the next one, waiting: no older copies.
    assert [(s, state) for s, state, _ in await listed(house)] == [
        ("demo-3", "ended"),
        ("demo-4", "scheduled"),
    ]
    # The old runs' lots and bids are kept: an admin reads them by id.
    assert await house.find_lot("vintage-watch") is not None
    # A restart over the same store lists the same two, and goes on from there.
    await house.stop()
    again, rec2, clock2, _ = await make_house(store, clock, add=False)
    await DemoRuns(again, DEFAULTS, PAUSE_MS).begin(now=False)
    assert [(s, state) for s, state, _ in await listed(again)] == [
        ("demo-3", "ended"),
        ("demo-4", "scheduled"),
    ]
    clock2.advance(PAUSE_MS)
    again.run_due()
    await settle(again, rec2.feed)
    assert again.sales["demo-4"].status == "running"


async def test_an_admins_sale_is_no_demo_run() -> None:
    house, rec, _clock, _store = await make_house(add=False)
    lots = [LotSpec(id="lamp", title="Lamp")]
    await house.add_sale(SaleSpec("demo-9", "Lamps", ("lamp",)), lots)
    assert run_number(house.sales["demo-9"].spec) is None
    assert run_number(SaleSpec("demo-9", "Demo sale, run 9", ("x",))) == 9
    demo = DemoRuns(house, DEFAULTS, PAUSE_MS)
    await demo.begin(now=False)  # a sale is on: no run now
    await settle(house, rec.feed)
    assert list(house.sales) == ["demo-9"]
