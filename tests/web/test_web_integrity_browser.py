"""The admin page's integrity panel in a browser (web/integrity.js): during the scripted shill
sale the shill is not flagged while it leads, then is flagged within 2 s of the bids that show
what it is, with the features that raised it; nobody else is. Screenshots at desktop and phone
sizes go to BIDWIRE_SHOTS (a directory) when set, else to tmp_path."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from test_web_integrity import shill_sale
from tests.engine.test_integrity import SHILL_SALE
from web_helpers import NEEDS_CHROMIUM, in_process, serving

from bidwire.domain.commands import Actor, PlaceBid

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


async def admin_page(browser: Any, port: int, viewport: dict[str, int]) -> tuple[Any, list[str]]:
    context = await browser.new_context(viewport=viewport, locale="en-US")
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(f"http://127.0.0.1:{port}/admin")
    await page.fill("#login-username", "root")
    await page.fill("#login-password", "root-password")
    await page.click("[data-testid=login-submit]")
    await page.wait_for_selector("[data-testid=integrity-rows] tr[data-bidder=sam]")
    return page, problems


async def test_the_panel_flags_the_shill_live_and_says_why(browser: Any, tmp_path: Path) -> None:
    shots = Path(os.environ.get("BIDWIRE_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        t0 = server.clock.now_ms()
        await shill_sale(server, until=55_000)  # sam leads every lot: nothing to flag yet
        page, problems = await admin_page(browser, ports.http, DESKTOP)
        summary = "[data-testid=integrity-summary]"
        assert "Nobody flagged" in await page.inner_text(summary)
        assert await page.locator("[data-testid=integrity-rows] tr.flagged").count() == 0

        house = server.ctx.house
        later = sorted(
            (at, lot, who)
            for lot, row in SHILL_SALE.items()
            for at, who in row
            if 55_000 < at <= 80_000
        )
        for at, lot, who in later:
            server.clock.set(t0 + at)
            house.run_due()
            result = await house.place_bid(PlaceBid(Actor(who), lot, house.lots[lot].min_amount()))
            assert not hasattr(result, "code"), result
        await house.settled()
        placed = time.monotonic()
        flagged = "[data-testid=integrity-rows] tr.flagged[data-bidder=sam]"
        await page.wait_for_selector(flagged, timeout=5_000)
        took = time.monotonic() - placed
        assert took < 2.0, f"the panel took {took:.2f} s to flag the shill"
        assert await page.locator("[data-testid=integrity-rows] tr.flagged").count() == 1
        said = await page.inner_text(summary)
        assert said.startswith("1 bidder flagged: sam"), said
        raised = await page.locator(f"{flagged} .integrity-raised li").all_inner_texts()
        assert "outbids others at once" in raised and "rarely wins" in raised, raised
        assert "bids early" in raised, raised
        first = await page.locator("[data-testid=integrity-rows] tr").first.get_attribute(
            "data-bidder"
        )
        assert first == "sam"  # flagged first
        await page.locator("#integrity-card").screenshot(path=str(shots / "integrity-desktop.png"))
        await page.screenshot(path=str(shots / "integrity-desktop-page.png"))
        assert problems == []

        phone, phone_problems = await admin_page(browser, ports.http, PHONE)
        await phone.wait_for_selector(flagged)
        wide = await phone.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
        assert not wide, "the admin page scrolls sideways on a phone"
        await phone.evaluate(
            "window.scrollTo(0, document.getElementById('integrity-card').offsetTop - 70)"
        )
        await phone.screenshot(path=str(shots / "integrity-phone.png"))
        hal = "[data-testid=integrity-rows] tr[data-bidder=hal]"
        assert "under the threshold" in await phone.inner_text(hal)
        assert phone_problems == []
        await asyncio.sleep(0)


async def test_a_crowded_sale_lists_the_highest_hundred_and_says_so(
    browser: Any, tmp_path: Path
) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        t0 = server.clock.now_ms()
        await shill_sale(server, until=55_000)
        house = server.ctx.house
        server.clock.set(t0 + 56_000)
        for i in range(120):  # a crowd bidding once each: more bidders than the panel lists
            placed = await house.place_bid(
                PlaceBid(Actor(f"p{i:03d}"), "a", house.lots["a"].min_amount())
            )
            assert not hasattr(placed, "code"), placed
        await house.settled()
        page, problems = await admin_page(browser, ports.http, DESKTOP)
        rows = page.locator("[data-testid=integrity-rows] tr")
        await page.wait_for_function(
            "document.querySelectorAll('[data-testid=integrity-rows] tr').length === 100"
        )
        assert await rows.count() == 100
        said = await page.inner_text("[data-testid=integrity-summary]")
        assert "124 bidders" in said, said  # the count is of all, not of those listed
        rule = await page.inner_text("#integrity-card")
        assert "Listed: the 100 highest of 124 bidders, flagged first." in rule
        shots = Path(os.environ.get("BIDWIRE_SHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        await page.evaluate(
            "window.scrollTo(0, document.getElementById('integrity-card').offsetTop - 70)"
        )
        await page.screenshot(path=str(shots / "integrity-crowded-desktop.png"))
        assert problems == []
        phone, phone_problems = await admin_page(browser, ports.http, PHONE)
        await phone.wait_for_function(
            "document.querySelectorAll('[data-testid=integrity-rows] tr').length === 100"
        )
        await phone.evaluate(
            "window.scrollTo(0, document.getElementById('integrity-card').offsetTop - 70)"
        )
        await phone.screenshot(path=str(shots / "integrity-crowded-phone.png"))
        assert phone_problems == []
