"""The admin's analytics page (/admin/analytics) in a real browser: a running sale with a lot
sold at the hammer, one bought now, one withdrawn and two still open; the charts drawn by
plotly (its SVG, with a point per bid), the headline figures and the per-lot table; a bid
placed over HTTP shows within 2 s; a person who is not an admin sees a login prompt and no
figure. At desktop and phone widths, dark and light; screenshots go to /tmp/shots-analytics/
(or BIDWIRE_SHOTS).

Real browsers (Debian's chromium through Playwright's async API) on a real HTTP and WebSocket
server over the in-process engine, whose clock the test moves.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import NEEDS_CHROMIUM, GuestTokens, InProcess, in_process, serving

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

SHOTS = Path(os.environ.get("BIDWIRE_SHOTS") or "/tmp/shots-analytics")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
MINUTE = 60_000

# The plotly points in a chart's SVG (scatter markers, bars, pie slices).
POINTS = """id => document.querySelectorAll(
  `[data-testid=${id}] svg.main-svg .scatterlayer path.point,
   [data-testid=${id}] svg.main-svg .barlayer path,
   [data-testid=${id}] svg.main-svg .pielayer path.surface`).length"""

# Anything wider than the screen (a phone page must not scroll sideways).
WIDER = """() => document.documentElement.scrollWidth - document.documentElement.clientWidth"""


def lots() -> list[LotSpec]:
    return [
        LotSpec(
            "clock",
            "Long-case Clock",
            starting_price=20_000,
            opening_ms=5 * MINUTE,
            extend_ms=MINUTE,
            estimate_low=25_000,
            estimate_high=40_000,
        ),
        LotSpec(
            "vase",
            "Ming-style Vase",
            starting_price=10_000,
            opening_ms=30 * MINUTE,
            buy_now=50_000,
            estimate_low=60_000,
            estimate_high=80_000,
        ),
        LotSpec("rug", "Persian Rug", starting_price=5_000, opening_ms=30 * MINUTE),
        LotSpec(
            "lamp",
            "Tiffany-style Lamp",
            starting_price=5_000,
            opening_ms=30 * MINUTE,
            extend_ms=MINUTE,
            estimate_low=8_000,
            estimate_high=12_000,
        ),
        LotSpec("chair", "Windsor Chair", starting_price=3_000, opening_ms=30 * MINUTE),
    ]


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


class Bidders:
    """Guests bidding over the server's real HTTP port, each keeping its guest session."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.guests = GuestTokens()

    async def bid(self, lot: str, name: str, amount: int, max_amount: int | None = None) -> None:
        body: dict[str, Any] = {"amount": amount, "bidder": name}
        if max_amount is not None:
            body["max_amount"] = max_amount
        reply = self.guests.keep(
            body, await self.http.post(f"/api/lots/{lot}/bids", json=self.guests.body(body))
        )
        assert reply.status_code == 200, reply.text


async def scripted_sale(server: InProcess, bidders: Bidders, admin: httpx.AsyncClient) -> None:
    """The clock sells at the hammer (30,000, within its estimate), the vase is bought now
    (50,000, below), the rug withdrawn; the lamp has bids (one automatic), the chair none."""
    house = server.ctx.house
    spec = SaleSpec("evening", "Evening sale", tuple(lot.id for lot in lots()), "timed")
    await house.add_sale(spec, lots())
    house.start()
    await settled(server)
    clock = server.clock
    await bidders.bid("clock", "ann", 20_000)
    clock.advance(40_000)
    await bidders.bid("clock", "bob", 25_000)
    clock.advance(40_000)
    await bidders.bid("lamp", "ann", 5_000, max_amount=9_000)
    clock.advance(30_000)
    await bidders.bid("clock", "ann", 30_000)
    clock.advance(20_000)
    await bidders.bid("lamp", "bob", 6_000)  # ann's maximum answers it at once
    clock.advance(MINUTE)
    reply = await bidders.http.post("/api/lots/vase/buy-now", json={"bidder": "cy"})
    assert reply.status_code == 200, reply.text
    assert (await admin.post("/api/admin/lots/rug/withdraw")).status_code == 200
    clock.advance(6 * MINUTE)  # past the clock's deadline
    house.run_due()
    await settled(server)


async def open_page(
    browser: Any,
    base: str,
    viewport: dict[str, int],
    token: str | None,
    scheme: str = "dark",
    answered: list[tuple[str, int]] | None = None,
) -> tuple[Any, Any, list[str]]:
    """The page, its console's errors, and in ``answered`` every /api/admin answer it got."""
    context = await browser.new_context(viewport=viewport, locale="en-US", color_scheme=scheme)
    if token is not None:
        await context.add_cookies([{"name": "bidwire_token", "value": token, "url": base}])
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    if answered is not None:
        page.on(
            "response",
            lambda r: answered.append((r.url, r.status)) if "/api/admin" in r.url else None,
        )
    await page.goto(base + "/admin/analytics")
    return context, page, problems


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(300)  # plotly's transitions
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def figure(page: Any, key: str) -> str:
    text: str = await page.inner_text(f"[data-testid=figures] [data-key={key}] .analytics-number")
    return text


async def legend(page: Any) -> str:
    """The price chart's legend (SVG text: the lots drawn)."""
    text: str = await page.evaluate(
        "document.querySelector('[data-testid=price-chart] .legend')?.textContent ?? ''"
    )
    return text


async def row_text(page: Any, lot: str) -> str:
    text: str = await page.inner_text(f"[data-testid=lots] tr[data-lot={lot}]")
    return " ".join(text.split())


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_the_charts_the_figures_and_a_live_bid(browser: Any, width: str) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as anyone,
            httpx.AsyncClient(
                base_url=base, timeout=10, headers={"authorization": f"Bearer {server.admin_token}"}
            ) as admin,
        ):
            bidders = Bidders(anyone)
            await scripted_sale(server, bidders, admin)
            context, page, problems = await open_page(
                browser, base, VIEWPORTS[width], server.admin_token
            )
            await page.wait_for_selector("[data-testid=analytics][data-renders]", timeout=10_000)
            await page.wait_for_selector("[data-testid=live][data-state=live]", timeout=10_000)
            assert await page.input_value("[data-testid=sale-pick]") == "evening"
            assert await page.is_hidden("[data-testid=currency-row]"), "one currency: no pick"

            # the figures the report gives, as a person reads them
            assert await figure(page, "sell_through_lots") == "50%"  # 2 sold of 4 offered
            assert await figure(page, "hammer_total") == "$800.00"  # 300 + 500
            assert await figure(page, "bids") == "6"  # ann's automatic answer included
            assert await figure(page, "unique_bidders") == "2"  # cy bought now: not a bid
            assert "1 automatic" in await page.inner_text("[data-key=bids]")
            assert "sold at the hammer" in await row_text(page, "clock")
            assert "$250.00 – $400.00 · within" in await row_text(page, "clock")
            assert "bought now" in await row_text(page, "vase")
            assert "below" in await row_text(page, "vase")
            assert "withdrawn" in await row_text(page, "rug")
            assert "open" in await row_text(page, "lamp")

            # the charts: plotly's own SVG, with a marker per standing bid
            await page.wait_for_function(f"({POINTS})('price-chart') === 6", timeout=5_000)
            drawn_lots = await legend(page)
            assert "Long-case Clock" in drawn_lots and "Tiffany-style Lamp" in drawn_lots
            # the sell-through: hammer, bought now, withdrawn, still open
            assert await page.evaluate(f"({POINTS})('sell-chart')") == 4
            assert await page.evaluate(f"({POINTS})('minute-chart')") >= 3
            # the estimate chart: 3 bands (clock, vase, lamp) and 2 hammers (clock, vase)
            assert await page.evaluate(f"({POINTS})('estimate-chart')") == 3 + 2
            assert await page.evaluate(WIDER) <= 0, "the page scrolls sideways"
            await shot(page, f"{width}-analytics")

            # live: a bid over HTTP is on the page within 2 s, figures and chart both
            before = await page.get_attribute("[data-testid=analytics]", "data-renders")
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url) if "/api/admin/" in r.url else None)
            started = time.monotonic()
            await bidders.bid("chair", "dee", 3_000)
            await page.wait_for_function(
                f"""() => document.querySelector('[data-testid=analytics]').dataset.bids === '7'
                  && ({POINTS})('price-chart') === 7""",
                timeout=2_000,
            )
            took = time.monotonic() - started
            print(f"{width}: a bid on the page {took * 1000:.0f} ms after it was placed")
            after = await page.get_attribute("[data-testid=analytics]", "data-renders")
            assert after != before
            assert await figure(page, "unique_bidders") == "3"
            assert "Windsor Chair" in await legend(page)
            assert "$30.00" not in await row_text(page, "chair")  # open: no hammer yet

            # a burst of bids is drawn, refetched at most about once a second
            renders = int(after or 0)
            for i in range(6):
                await bidders.bid("chair", "eve" if i % 2 == 0 else "dee", 3_500 + i * 500)
            await page.wait_for_function(
                "() => document.querySelector('[data-testid=analytics]').dataset.bids === '13'",
                timeout=4_000,
            )
            drawn = int(await page.get_attribute("[data-testid=analytics]", "data-renders") or 0)
            assert drawn - renders <= 3, f"{drawn - renders} refetches for one burst"
            # the bids came from the feed: only the report was read again, no lot's history
            assert asked and all("/report" in url for url in asked), asked
            await shot(page, f"{width}-analytics-live")
            assert problems == [], problems
            await context.close()


async def test_the_light_theme_draws_the_charts_in_its_colours(browser: Any) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as anyone,
            httpx.AsyncClient(
                base_url=base, timeout=10, headers={"authorization": f"Bearer {server.admin_token}"}
            ) as admin,
        ):
            await scripted_sale(server, Bidders(anyone), admin)
            context, page, problems = await open_page(
                browser, base, VIEWPORTS["desktop"], server.admin_token, scheme="light"
            )
            await page.wait_for_function(f"({POINTS})('price-chart') === 6", timeout=10_000)
            # the axis labels in the light theme's ink, not the dark theme's
            ink = await page.evaluate(
                "getComputedStyle(document.documentElement).getPropertyValue('--text').trim()"
            )
            assert ink == "#151a2b"
            fill = await page.evaluate(
                "document.querySelector('[data-testid=price-chart] .xtick text').style.fill"
            )
            assert fill == "rgb(21, 26, 43)"
            await shot(page, "desktop-analytics-light")
            assert problems == [], problems
            await context.close()


@pytest.mark.parametrize("who", ["anonymous", "bidder"])
async def test_not_an_admin_sees_a_login_prompt_never_figures(browser: Any, who: str) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as anyone,
            httpx.AsyncClient(
                base_url=base, timeout=10, headers={"authorization": f"Bearer {server.admin_token}"}
            ) as admin,
        ):
            await scripted_sale(server, Bidders(anyone), admin)
            token = server.bidder_token if who == "bidder" else None
            answered: list[tuple[str, int]] = []
            context, page, problems = await open_page(
                browser, base, VIEWPORTS["phone"], token, answered=answered
            )
            await page.wait_for_selector("[data-testid=login-form]", state="visible")
            assert await page.is_hidden("[data-testid=analytics]")
            assert await page.inner_text("[data-testid=figures]") == ""
            assert await page.inner_text("[data-testid=lots]") == ""
            if who == "bidder":
                status = await page.inner_text("[data-testid=status]")
                assert "bea is not an administrator" in status
            assert answered == [], "the page asked for figures before an admin logged in"
            await shot(page, f"phone-analytics-login-{who}")
            # logging in as an admin brings the figures, on the same page
            await page.fill("#login-username", "root")
            await page.fill("#login-password", "root-password")
            await page.click("[data-testid=login-submit]")
            await page.wait_for_selector("[data-testid=analytics][data-renders]", timeout=10_000)
            assert await figure(page, "bids") == "6"
            assert all(status == 200 for _, status in answered), answered
            problems = [p for p in problems if "401" not in p and "403" not in p]
            assert problems == [], problems
            await context.close()


async def test_without_plotly_the_figures_show_and_the_charts_say_why(browser: Any) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as anyone,
            httpx.AsyncClient(
                base_url=base, timeout=10, headers={"authorization": f"Bearer {server.admin_token}"}
            ) as admin,
        ):
            await scripted_sale(server, Bidders(anyone), admin)
            context = await browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")
            await context.add_cookies(
                [{"name": "bidwire_token", "value": server.admin_token, "url": base}]
            )
            page = await context.new_page()
            # as a server without the plotly package answers (http/vendor.py)
            await page.route(
                "**/vendor/plotly.min.js",
                lambda route: route.fulfill(
                    status=503,
                    content_type="application/json",
                    body='{"code":"unavailable","message":"plotly is not installed"}',
                ),
            )
            await page.goto(base + "/admin/analytics")
            await page.wait_for_selector("[data-testid=analytics][data-renders]", timeout=10_000)
            assert await figure(page, "bids") == "6"
            assert "sold at the hammer" in await row_text(page, "clock")
            for chart in ("price-chart", "sell-chart", "minute-chart", "estimate-chart"):
                words = await page.inner_text(f"[data-testid={chart}]")
                assert "cannot be drawn" in words, (chart, words)
            await context.close()


BIG_LOTS = 100
BIG_ROUNDS = 50  # bids per lot: 5,000 in all


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_a_sale_of_100_lots_and_5000_bids_stays_readable(browser: Any, width: str) -> None:
    from bidwire.domain.commands import Accepted, Actor, PlaceBid

    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house
        big = [
            LotSpec(
                f"lot-{i:03d}",
                f"Lot {i} of the estate",
                starting_price=1_000,
                opening_ms=60 * MINUTE,
                extend_ms=MINUTE,
                estimate_low=20_000 + 300 * i,
                estimate_high=40_000 + 300 * i,
            )
            for i in range(BIG_LOTS)
        ]
        spec = SaleSpec("estate", "The estate", tuple(lot.id for lot in big), "timed")
        await house.add_sale(spec, big)
        house.start()
        await settled(server)
        for n in range(BIG_ROUNDS):
            for i, lot in enumerate(big):
                amount = 1_000 + 500 * n + 7 * i
                bidder = Actor(f"bidder-{(n + i) % 8}")
                placed = await house.place_bid(PlaceBid(bidder, lot.id, amount))
                assert isinstance(placed, Accepted), placed
            server.clock.advance(20_000)
        await settled(server)
        base = f"http://127.0.0.1:{ports.http}"
        started = time.monotonic()
        context, page, problems = await open_page(
            browser, base, VIEWPORTS[width], server.admin_token
        )
        # the figures first, the charts once plotly.js (4.8 MB) is parsed: a figure, not a bound
        await page.wait_for_selector("[data-testid=figures] [data-key=bids]", timeout=30_000)
        figures = time.monotonic() - started
        await page.wait_for_selector("[data-testid=analytics][data-renders]", timeout=30_000)
        charts = time.monotonic() - started
        print(
            f"{width}: {BIG_LOTS} lots, {BIG_LOTS * BIG_ROUNDS} bids: figures after"
            f" {figures:.2f} s, every chart after {charts:.2f} s"
        )
        assert await figure(page, "bids") == f"{BIG_LOTS * BIG_ROUNDS:,}"
        # the 10 busiest lots drawn at first, every lot one click away in the legend
        assert await page.evaluate(f"({POINTS})('price-chart')") == 10 * BIG_ROUNDS
        entries = await page.evaluate(
            "document.querySelectorAll('[data-testid=price-chart] .legend .traces').length"
        )
        assert entries == BIG_LOTS
        assert await page.evaluate(WIDER) <= 0, "the page scrolls sideways"
        # the table lists 25 lots until asked for all
        assert await page.locator("[data-testid=lots] tr").count() == 25
        await shot(page, f"{width}-analytics-100-lots")
        await page.click("[data-testid=lots-more]")
        assert await page.locator("[data-testid=lots] tr").count() == BIG_LOTS
        assert await page.is_hidden("[data-testid=lots-more]")
        assert problems == [], problems
        await context.close()


async def test_an_anonymous_sale_shows_the_admin_real_names_live(browser: Any) -> None:
    """An admin's feed names the bidder, also in an anonymous sale: the page draws a bid from
    the feed at once, with the name the admin history would give, without reading it."""
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house
        lot = LotSpec("mask", "Carnival Mask", starting_price=1_000, opening_ms=30 * MINUTE)
        quiet = SaleSpec("quiet", "Quiet sale", ("mask",), "timed", anonymous=True)
        await house.add_sale(quiet, [lot])
        house.start()
        await settled(server)
        base = f"http://127.0.0.1:{ports.http}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as anyone:
            bidders = Bidders(anyone)
            await bidders.bid("mask", "ann", 1_000)
            public = (await anyone.get("/api/lots/mask/bids")).json()["bids"]
            assert public[0]["bidder"].startswith("Bidder ")  # what the public is shown
            context, page, problems = await open_page(
                browser, base, VIEWPORTS["desktop"], server.admin_token
            )
            await page.wait_for_function(f"({POINTS})('price-chart') === 1", timeout=10_000)
            names = (
                "document.querySelector('[data-testid=price-chart]').data[0]"
                ".customdata.map(c => c[1])"
            )
            assert await page.evaluate(names) == ["ann"]  # the admin history: the real name
            await page.wait_for_selector("[data-testid=live][data-state=live]", timeout=10_000)
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url) if "/bids" in r.url else None)
            await bidders.bid("mask", "bob", 1_100)
            await page.wait_for_function(f"({POINTS})('price-chart') === 2", timeout=2_000)
            assert await page.evaluate(names) == ["ann", "bob"]
            assert asked == [], asked  # from the feed, not from the history
            assert problems == [], problems
            await context.close()


async def test_the_sale_picker_switches_sales_and_keeps_the_choice_in_the_address(
    browser: Any,
) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as anyone,
            httpx.AsyncClient(
                base_url=base, timeout=10, headers={"authorization": f"Bearer {server.admin_token}"}
            ) as admin,
        ):
            await scripted_sale(server, Bidders(anyone), admin)
            # a second sale, cancelled at once: ended, its one lot withdrawn
            lot = LotSpec("bell", "Brass Bell", starting_price=2_000, opening_ms=30 * MINUTE)
            await server.ctx.house.add_sale(SaleSpec("morning", "Morning sale", ("bell",)), [lot])
            await settled(server)
            assert (await admin.post("/api/admin/sales/morning/cancel")).status_code == 200
            await settled(server)
            context, page, problems = await open_page(
                browser, base, VIEWPORTS["desktop"], server.admin_token
            )
            await page.wait_for_selector("[data-testid=analytics][data-renders]", timeout=10_000)
            assert await page.input_value("[data-testid=sale-pick]") == "evening"  # the running one
            await page.select_option("[data-testid=sale-pick]", "morning")
            await page.wait_for_function(
                "() => document.querySelector('[data-testid=lots] tr[data-lot=bell]')",
                timeout=5_000,
            )
            assert page.url.endswith("#sale=morning")
            assert "withdrawn" in await row_text(page, "bell")
            assert await figure(page, "bids") == "0"
            assert "figures are final" in await page.inner_text("[data-testid=live]")
            await page.wait_for_function(
                "() => document.querySelector('[data-testid=price-chart]').innerText"
                ".includes('No bids yet')",
                timeout=5_000,
            )
            # and back: the evening's charts drawn again where the messages were
            await page.select_option("[data-testid=sale-pick]", "evening")
            await page.wait_for_function(f"({POINTS})('price-chart') === 6", timeout=5_000)
            assert await page.locator("[data-testid=price-chart] .analytics-empty").count() == 0
            await page.select_option("[data-testid=sale-pick]", "morning")
            await page.wait_for_selector("[data-testid=lots] tr[data-lot=bell]", timeout=5_000)
            # the address brings the same sale back
            await page.reload()
            await page.wait_for_selector("[data-testid=lots] tr[data-lot=bell]", timeout=10_000)
            assert await page.input_value("[data-testid=sale-pick]") == "morning"
            assert problems == [], problems
            await context.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_a_sale_in_two_currencies_draws_its_money_one_currency_at_a_time(
    browser: Any, width: str
) -> None:
    """Three lots in dollars, two in yen: one axis cannot hold $250 and ¥40,000, so the price
    and estimate charts draw the dollars (the most lots) until the yen are picked."""
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house

        def priced(lot: str, title: str, currency: str, low: int, high: int) -> LotSpec:
            return LotSpec(
                lot, title, currency=currency, starting_price=low // 2,
                opening_ms=30 * MINUTE, estimate_low=low, estimate_high=high,
            )  # fmt: skip

        both = [
            priced("desk", "Oak Desk", "USD", 20_000, 30_000),
            priced("fan", "Folding Fan", "JPY", 30_000, 50_000),
            priced("cup", "Tea Cup", "USD", 4_000, 6_000),
            priced("bowl", "Raku Bowl", "JPY", 80_000, 120_000),
            priced("map", "Old Map", "USD", 10_000, 15_000),
        ]
        world = SaleSpec("world", "World sale", tuple(x.id for x in both), mode="timed")
        await house.add_sale(world, both)
        house.start()
        await settled(server)
        base = f"http://127.0.0.1:{ports.http}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as anyone:
            bidders = Bidders(anyone)
            for lot in both:
                await bidders.bid(lot.id, "ann", lot.starting_price)
                server.clock.advance(5_000)
            await settled(server)
        context, page, problems = await open_page(
            browser, base, VIEWPORTS[width], server.admin_token
        )
        await page.wait_for_selector("[data-testid=analytics][data-renders]", timeout=10_000)
        assert await page.is_visible("[data-testid=currency-row]")
        options = await page.locator("[data-testid=currency-pick] option").all_inner_texts()
        assert options == ["USD (3 lots)", "JPY (2 lots)"], options
        note = await page.inner_text("[data-testid=currency-note]")
        assert note == "This sale is in 2 currencies; the JPY lots are a pick away.", note
        axis = "id => document.querySelector(`[data-testid=${id}] .ytitle`)?.textContent"
        assert await page.evaluate(axis, "estimate-chart") == "Amount (USD)"
        assert await page.evaluate(axis, "price-chart") == "Price (USD)"
        drawn = await legend(page)
        assert all(t in drawn for t in ("Oak Desk", "Tea Cup", "Old Map")), drawn
        assert "Folding Fan" not in drawn and "Raku Bowl" not in drawn, drawn
        assert await page.evaluate(f"({POINTS})('price-chart')") == 3  # a bid on each USD lot
        assert await page.evaluate(WIDER) <= 0, "the page scrolls sideways"
        await shot(page, f"{width}-analytics-currencies")

        await page.select_option("[data-testid=currency-pick]", "JPY")
        await page.wait_for_function(
            f"() => ({axis})('estimate-chart') === 'Amount (JPY)'", timeout=5_000
        )
        assert await page.evaluate(axis, "price-chart") == "Price (JPY)"
        drawn = await legend(page)
        assert "Folding Fan" in drawn and "Raku Bowl" in drawn and "Oak Desk" not in drawn
        assert await page.evaluate(f"({POINTS})('price-chart')") == 2
        assert problems == [], problems
        await context.close()
