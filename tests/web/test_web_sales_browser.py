"""The page organised by sale, and a lot's page (issue 12, defect 5 and the catalog of sales).

Real browsers (Debian's chromium through Playwright's async API), desktop 1280x800 and phone
390x844, on a real HTTP and WebSocket server over the in-process engine, whose clock the test
moves: sales start and end when the test says. Screenshots go to BIDWIRE_SHOTS (a directory)
when set, else to tmp_path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from web_helpers import NEEDS_CHROMIUM, InProcess, in_process, serving

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
TEN_MINUTES = 600_000
TWELVE_MINUTES = 720_000


def lot(lot_id: str, title: str, **more: Any) -> LotSpec:
    return LotSpec(
        lot_id,
        title,
        description=more.pop("description", f"{title}, from a private collection."),
        starting_price=more.pop("starting_price", 10_000),
        opening_ms=TEN_MINUTES,
        extend_ms=TEN_MINUTES,
        **more,
    )


@dataclass
class Room:
    server: InProcess
    base_url: str
    shots: Path
    problems: list[str] = field(default_factory=list)

    @property
    def house(self) -> Any:
        return self.server.ctx.house

    @property
    def now(self) -> int:
        return int(self.server.clock.now_ms())

    async def settled(self) -> None:
        await asyncio.wait_for(self.house.settled(), 5)
        await asyncio.wait_for(self.server.ctx.feed.flushed(), 5)

    async def sale(self, sale: SaleSpec, lots: list[LotSpec]) -> None:
        """Add a sale; one due now starts (and opens its lots) at once."""
        await self.house.add_sale(sale, lots)
        self.house.run_due()
        await self.settled()
        self.house.run_due()  # a started sale's lots open once its start is stored
        await self.settled()

    async def bid(self, lot_id: str, bidder: str, amount: int) -> None:
        async with self.server.client() as http:
            reply = await http.post(
                f"/api/lots/{lot_id}/bids", json={"amount": amount, "bidder": bidder}
            )
            assert reply.status_code == 200, reply.text
        await self.settled()

    async def close_all(self) -> None:
        """The hammer falls on every open lot; their sales end."""
        self.server.clock.advance(2 * TEN_MINUTES)
        self.house.run_due()
        await self.settled()
        self.house.run_due()
        await self.settled()

    async def page(self, browser: Any, viewport: dict[str, int], path: str = "/") -> Any:
        context = await browser.new_context(viewport=viewport, locale="en-US")
        page = await context.new_page()
        page.on(
            "console",
            lambda m: self.problems.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda exc: self.problems.append(str(exc)))
        await page.goto(self.base_url + path)
        await page.fill("[data-testid=name-input]", "viewer")
        await page.press("[data-testid=name-input]", "Enter")
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        return page

    async def shot(self, page: Any, name: str, viewport: dict[str, int]) -> None:
        await page.wait_for_timeout(300)  # let toasts settle
        screen = "desktop" if viewport is DESKTOP else "phone"
        await page.screenshot(path=str(self.shots / f"{screen}-{name}.png"), full_page=True)


@asynccontextmanager
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        shots = Path(os.environ.get("BIDWIRE_SHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        r = Room(server, f"http://127.0.0.1:{ports.http}", shots)
        server.ctx.house.start()
        yield r
        assert not r.problems, r.problems


async def a_past_sale(r: Room) -> None:
    """The morning sale, over: the teapot sold to ann for $120.00, the clock not sold."""
    teapot = lot("teapot", "Silver Teapot", estimate_low=10_000, estimate_high=15_000)
    await r.sale(
        SaleSpec("morning", "Morning sale", ("teapot", "clock"), mode="timed"),
        [teapot, lot("clock", "Mantel Clock")],
    )
    await r.bid("teapot", "ann", 12_000)
    await r.close_all()
    assert r.house.sales["morning"].status == "ended"


def local_time(ms: int, now_ms: int) -> str:
    """A time as the page's locale (en-US in these tests) shows it: hours and minutes, and the
    day before them when it is not the day of ``now_ms``, the server's clock the page keeps (a
    sale 12 minutes away at 23:50 starts tomorrow). The server's clock is the test's own."""
    at = datetime.fromtimestamp(ms / 1000)
    time = at.strftime("%I:%M %p").lstrip("0")
    if at.date() == datetime.fromtimestamp(now_ms / 1000).date():
        return time
    return f"{at:%a}, {at:%b} {at.day} {time}"


async def text(page: Any, selector: str) -> str:
    return str(await page.inner_text(selector))


async def wait_text(page: Any, selector: str, words: str, timeout: float = 5.0) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_function(
            "([s, w]) => (document.querySelector(s)?.innerText ?? '').includes(w)",
            arg=[selector, words],
            timeout=timeout * 1000,
        )
    except PlaywrightTimeout:
        shown = await page.evaluate("s => document.querySelector(s)?.innerText", selector)
        raise AssertionError(f"{selector} says {shown!r}, not {words!r}") from None


@pytest.mark.parametrize("viewport", SCREENS)
async def test_two_running_sales_are_told_apart_and_past_sales_fold(
    browser: Any, tmp_path: Path, viewport: dict[str, int]
) -> None:
    async with room(tmp_path) as r:
        await a_past_sale(r)
        # Two sales at once: a timed sale beside a live one.
        await r.sale(
            SaleSpec("evening", "Evening timed sale", ("mirror", "lamp"), mode="timed"),
            [lot("mirror", "Gilt Mirror"), lot("lamp", "Brass Lamp")],
        )
        await r.sale(
            SaleSpec("room", "Live room", ("painting", "vase"), mode="live"),
            [lot("painting", "Oil Painting"), lot("vase", "Blue Vase")],
        )
        spring_at = r.now + TWELVE_MINUTES
        await r.sale(
            SaleSpec("spring", "Spring sale", ("watch",), mode="live", starts_at=spring_at),
            [lot("watch", "Vintage Watch", estimate_low=80_000, estimate_high=120_000)],
        )
        page = await r.page(browser, viewport)
        await page.wait_for_selector(".sale-item[data-lot=vase]")  # the catalogue is read
        # Both running sales are named in the list (today's page names none).
        listed = await text(page, "[data-testid=sale-lists]")
        assert "Evening timed sale" in listed and "Live room" in listed, listed
        running = "[data-testid=running-sales]"
        shown = await text(page, running)
        assert "Evening timed sale" in shown and "Live room" in shown
        assert "Morning sale" not in shown and "Spring sale" not in shown
        # Each running sale lists its own lots under its name.
        own = {"evening": ["Gilt Mirror", "Brass Lamp"], "room": ["Oil Painting", "Blue Vase"]}
        for sale, titles in own.items():
            group = await text(page, f"{running} [data-sale={sale}]")
            assert all(title in group for title in titles), group
        assert "Gilt Mirror" not in await text(page, f"{running} [data-sale=room]")

        # The lot panel names the sale of the lot it shows, whichever of the two that is.
        await page.click(".sale-item[data-lot=mirror]")
        await wait_text(page, "[data-testid=lot-title]", "Gilt Mirror")
        await wait_text(page, "[data-testid=lot-sale]", "Evening timed sale")
        await r.shot(page, "two-running-sales", viewport)
        await page.click(".sale-item[data-lot=painting]")
        await wait_text(page, "[data-testid=lot-title]", "Oil Painting")
        await wait_text(page, "[data-testid=lot-sale]", "Live room")

        # The upcoming sale, with when it starts in words, and its lots with their estimates.
        upcoming = await text(page, "[data-testid=upcoming-sales]")
        assert "Spring sale" in upcoming
        assert f"Starts at {local_time(spring_at, r.now)}, in 12 minutes" in upcoming, upcoming
        assert "Estimate $800–$1,200" in upcoming, upcoming

        # The past sale: named, folded, and its results there once opened.
        past = page.locator("[data-testid=past-sales] details[data-sale=morning]")
        assert not await past.evaluate("d => d.open")
        summary = await text(page, "[data-testid=past-sales] details[data-sale=morning] summary")
        assert "Morning sale" in summary and "1 of 2 sold" in summary, summary
        assert await page.locator(".sale-item[data-lot=teapot]").count() == 0  # not even built
        await page.click("[data-testid=past-sales] details[data-sale=morning] summary")
        results = "[data-testid=past-sales] details[data-sale=morning] ul"
        await wait_text(page, results, "sold for $120.00 to ann")
        assert "not sold: no bids" in await text(page, results)
        await r.shot(page, "past-sale-opened", viewport)
        # Still open after the next change on the page (a bid re-renders the list).
        await r.bid("mirror", "bob", 15_000)
        await wait_text(page, f"{running} [data-sale=evening]", "$150.00")
        assert await past.evaluate("d => d.open")


@pytest.mark.parametrize("viewport", SCREENS)
async def test_with_no_sale_running_no_old_lot_is_shown_as_current(
    browser: Any, tmp_path: Path, viewport: dict[str, int]
) -> None:
    async with room(tmp_path) as r:
        await a_past_sale(r)
        page = await r.page(browser, viewport)
        await page.wait_for_selector(".sale-item[data-lot=teapot]")  # the catalogue is read
        await page.wait_for_timeout(300)  # and drawn on the panel, if it were to show a lot
        # No lot on the panel as if it were on the block (today: the teapot, lot 1 of 2)...
        assert await page.is_hidden("[data-testid=lot-title]")
        assert await page.is_hidden("[data-testid=bid-form]")
        # ... but the sale's end, in words, and that nothing is upcoming.
        await wait_text(page, "[data-testid=idle-title]", "The sale has ended")
        await wait_text(page, "[data-testid=next-sale]", "No sale is running now and none is")
        assert "Morning sale has ended: 1 of 2 lots sold" in await text(
            page, "[data-testid=idle-text]"
        )
        await r.shot(page, "nothing-scheduled", viewport)

        # A sale starts while the page is open: its lot is on the block, named with its sale.
        await r.sale(
            SaleSpec("noon", "Noon sale", ("bowl",), mode="timed"), [lot("bowl", "Tea Bowl")]
        )
        await wait_text(page, "[data-testid=lot-title]", "Tea Bowl")
        await wait_text(page, "[data-testid=lot-sale]", "Noon sale")
        # The next sale is scheduled (nothing tells the page), then the noon sale ends: the
        # page looks again on hearing the end, and names the next sale and when, in words.
        spring_at = r.now + 2 * TEN_MINUTES + TWELVE_MINUTES  # 12 minutes after the close
        await r.sale(
            SaleSpec("spring", "Spring sale", ("watch",), mode="live", starts_at=spring_at),
            [lot("watch", "Vintage Watch", estimate_low=80_000, estimate_high=120_000)],
        )
        await r.close_all()
        await wait_text(page, "[data-testid=idle-title]", "The sale has ended")
        words = f"Next sale: Spring sale, starts at {local_time(spring_at, r.now)}, in 12 minutes."
        await wait_text(page, "[data-testid=next-sale]", words)
        assert "Noon sale has ended: 0 of 1 lot sold" in await text(page, "[data-testid=idle-text]")
        assert await page.is_hidden("[data-testid=lot-title]")
        # The sale that just ended shows its results; the older one stays folded.
        past = "[data-testid=past-sales] details"
        assert await page.locator(f"{past}[data-sale=noon]").evaluate("d => d.open")
        assert not await page.locator(f"{past}[data-sale=morning]").evaluate("d => d.open")
        await r.shot(page, "next-sale", viewport)

        # It starts: its lot is on the block, with its sale's name and its estimate.
        r.server.clock.advance(TWELVE_MINUTES)
        r.house.run_due()
        await r.settled()
        r.house.run_due()
        await r.settled()
        await wait_text(page, "[data-testid=lot-title]", "Vintage Watch")
        await wait_text(page, "[data-testid=lot-sale]", "Spring sale")
        await wait_text(page, "[data-testid=estimate]", "Estimate $800–$1,200")


@pytest.mark.parametrize("viewport", SCREENS)
async def test_a_lots_page_shows_its_estimate_history_and_result(
    browser: Any, tmp_path: Path, viewport: dict[str, int]
) -> None:
    async with room(tmp_path) as r:
        await a_past_sale(r)
        await r.sale(
            SaleSpec("evening", "Evening timed sale", ("mirror",), mode="timed"),
            [lot("mirror", "Gilt Mirror")],
        )
        # A link to a past lot's page, opened while another sale runs.
        page = await r.page(browser, viewport, "/#lot/teapot")
        await wait_text(page, "[data-testid=lot-title]", "Silver Teapot")
        await wait_text(page, "[data-testid=lot-sale]", "Morning sale")
        assert "ended" in await text(page, "[data-testid=lot-sale]")
        await wait_text(page, "[data-testid=estimate]", "Estimate $100–$150")
        await wait_text(page, "[data-testid=standing]", "Sold to ann for $120.00")
        await wait_text(page, "[data-testid=history]", "ann")
        assert "$120.00" in await text(page, "[data-testid=history]")
        assert "Silver Teapot, from a private collection." in await text(page, "#lot-description")
        await r.shot(page, "lot-page", viewport)
        # Back to the lot on the block: the address follows.
        await page.click("[data-testid=running-sales] .sale-item[data-lot=mirror]")
        await wait_text(page, "[data-testid=lot-title]", "Gilt Mirror")
        assert await page.evaluate("location.hash") == ""
        await page.go_back()
        await wait_text(page, "[data-testid=lot-title]", "Silver Teapot")
        # A lot that does not exist: said so, and the page shows the sale instead.
        await page.goto(r.base_url + "/#lot/no-such-lot")
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        await wait_text(page, "[data-testid=toasts]", 'There is no lot "no-such-lot"')
        await wait_text(page, "[data-testid=lot-title]", "Gilt Mirror")


async def test_a_cancelled_sale_is_said_to_be_cancelled_live_and_after_a_reload(
    browser: Any, tmp_path: Path
) -> None:
    async with room(tmp_path) as r:
        await r.sale(
            SaleSpec("noon", "Noon sale", ("bowl",), mode="timed"), [lot("bowl", "Tea Bowl")]
        )
        page = await r.page(browser, PHONE)
        await wait_text(page, "[data-testid=lot-title]", "Tea Bowl")
        await r.house.cancel_sale("noon", "root")
        await r.settled()
        for _ in range(2):  # as it happens (sale_ended), then from the listing
            await wait_text(page, "[data-testid=idle-title]", "The sale was cancelled")
            assert "Noon sale has been cancelled" in await text(page, "[data-testid=idle-text]")
            summary = await text(page, "[data-testid=past-sales] details[data-sale=noon] summary")
            assert "cancelled at" in summary, summary
            await page.reload()
            await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
