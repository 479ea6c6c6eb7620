"""A sale's results page and the replay of a lot and of a sale in the web page (results.js,
replay.js), at desktop and phone widths: the results in words, pseudonyms in an anonymous sale,
the saleroom's link to them, and a replay at speed (the countdown moving, a bid appearing, a
pause that holds, a restart, the close).

Real browsers (Debian's chromium through Playwright's async API) on a real HTTP server over the
in-process engine, whose clock the test moves. Screenshots go to /tmp/shots-replay/ (or
BIDWIRE_SHOTS).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from web_helpers import NEEDS_CHROMIUM, GuestTokens, InProcess, in_process, serving

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

SHOTS = Path(os.environ.get("BIDWIRE_SHOTS") or "/tmp/shots-replay")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
MINUTE = 60_000
TIMED = {"opening_ms": MINUTE, "extend_ms": 10_000, "starting_price": 1_000}


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


async def bid(http: Any, tokens: GuestTokens, lot: str, who: str, amount: int) -> None:
    body = tokens.body({"bidder": who, "amount": amount})
    reply = tokens.keep(body, await http.post(f"/api/lots/{lot}/bids", json=body))
    assert reply.status_code == 200, reply.text


async def scripted_sale(server: InProcess) -> None:
    """Spring (five lots, each way a lot can end) and an anonymous sale, both run to the end:
    the clock's bids 10 s apart, the last one late enough to extend the deadline."""
    house = server.ctx.house
    lots = [
        LotSpec("clock", "Mantel Clock", **TIMED),  # type: ignore[arg-type]
        LotSpec("vase", "Blue Vase", reserve=5_000, **TIMED),  # type: ignore[arg-type]
        LotSpec("car", "Toy Car", buy_now=9_000, **TIMED),  # type: ignore[arg-type]
        LotSpec("lamp", "Brass Lamp", **TIMED),  # type: ignore[arg-type]
        LotSpec("desk", "Oak Desk", **TIMED),  # type: ignore[arg-type]
    ]
    spring = SaleSpec("spring", "Spring Sale", tuple(s.id for s in lots), mode="timed")
    await house.add_sale(spring, lots)
    ring = LotSpec("ring", "Silver Ring", **TIMED)  # type: ignore[arg-type]
    quiet = SaleSpec("quiet", "Quiet Sale", ("ring",), "timed", anonymous=True)
    await house.add_sale(quiet, [ring])
    house.start()
    await settled(server)
    tokens = GuestTokens()
    async with server.client(server.admin_token) as admin, server.client() as anyone:
        for step, (lot, who, amount) in enumerate(
            [
                ("clock", "gus", 1_000),
                ("clock", "ivy", 1_500),
                ("vase", "ivy", 1_000),
                ("clock", "gus", 2_000),
                ("ring", "gus", 1_000),
                ("ring", "ivy", 1_500),
            ]
        ):
            server.clock.advance(10_000 if step else 5_000)
            await bid(anyone, tokens, lot, who, amount)
        body = tokens.body({"bidder": "gus"})
        reply = tokens.keep(body, await anyone.post("/api/lots/car/buy-now", json=body))
        assert reply.status_code == 200, reply.text
        await bid(anyone, tokens, "lamp", "hal", 1_000)
        typo = tokens.body({"bidder": "ivy", "amount": 9_000})
        reply = tokens.keep(typo, await anyone.post("/api/lots/clock/bids", json=typo))
        assert reply.status_code == 200, reply.text
        await settled(server)
        voided = await admin.post("/api/admin/lots/clock/void", json={"seq": reply.json()["seq"]})
        assert voided.status_code == 200, voided.text
        assert (await admin.post("/api/admin/lots/lamp/withdraw")).status_code == 200
        server.clock.advance(1_000)  # at 56 s, 4 s left on the clock: a bid extends it
        await bid(anyone, tokens, "clock", "hal", 3_000)
        server.clock.advance(MINUTE)
        house.run_due()
        await settled(server)
        results = (await anyone.get("/api/sales/spring/results")).json()
        assert {row["state"] for row in results["lots"]} == {"closed"}


async def text_of(page: Any, testid: str) -> str:
    found: str = await page.locator(f"[data-testid={testid}]").first.inner_text()
    return found


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def overflow(page: Any) -> list[str]:
    """Elements of the past page wider than the window (cut words, a sideways scroll)."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('#past-page *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map((e) => e.className || e.tagName)"""
    )
    return found


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_the_results_page_and_a_replay_at_speed(browser: Any, width: str) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        await scripted_sale(server)
        base = f"http://127.0.0.1:{ports.http}"
        context = await browser.new_context(viewport=VIEWPORTS[width], locale="en-US")
        cookie = {"name": "bidwire_token", "value": server.bidder_token, "url": base}
        await context.add_cookies([cookie])
        page = await context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))

        # The saleroom links a past sale to its results.
        await page.goto(base + "/")
        spring = page.locator("[data-testid=past-sales] [data-sale=spring]")
        await spring.wait_for()
        link = spring.locator("[data-testid=results-link]")
        if not await link.is_visible():
            await spring.locator("summary").click()
        await link.click()
        await page.wait_for_selector("[data-testid=results-table]")
        assert await page.locator("main.layout").is_hidden(), "the saleroom stays under the page"
        rows = page.locator("[data-testid=result-row]")
        assert await rows.count() == 5
        words = await page.locator("[data-testid=result-words]").all_inner_texts()
        assert words == [
            "Sold to hal",
            "Unsold: the reserve was not met",
            "Bought now by gus",
            "Withdrawn by the house",
            "Unsold: no bids",
        ]
        hammers = await page.locator("[data-testid=result-hammer]").all_inner_texts()
        assert hammers == ["$30.00", "—", "$90.00", "—", "—"]
        assert await page.locator("[data-testid=result-bids]").all_inner_texts() == [
            "4",
            "1",
            "0",
            "1",
            "0",
        ]
        summary = await text_of(page, "results-summary")
        assert "2 of 4 lots offered sold" in summary and "$120.00" in summary, summary
        assert await overflow(page) == []
        await shot(page, f"{width}-results")

        # An anonymous sale's results name pseudonyms only.
        await page.goto(base + "/#results/quiet")
        await page.wait_for_selector("[data-testid=results-table]")
        quiet = await page.locator("#past-page").inner_text()
        assert "Sold to Bidder " in quiet and "gus" not in quiet and "ivy" not in quiet, quiet

        # The clock's replay at 10x: bids appear and the countdown runs as they happened.
        await page.goto(base + "/#results/spring")
        await page.locator("[data-testid=replay-lot]").first.click()
        await page.wait_for_selector("[data-testid=replay-controls]")
        assert "Mantel Clock" in await text_of(page, "replay-title")
        assert await text_of(page, "replay-countdown") == "1:00"
        assert await text_of(page, "replay-price") == "—"
        await page.click("[data-testid=replay-speed][data-speed='10']")
        await page.click("[data-testid=replay-play]")
        await page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=replay-bid]').length >= 2",
            timeout=5_000,
        )
        first = await text_of(page, "replay-countdown")
        await page.wait_for_timeout(400)
        second = await text_of(page, "replay-countdown")
        assert first != second, "the countdown does not move"
        await page.click("[data-testid=replay-play]")  # pause
        assert "Play" in await text_of(page, "replay-play")
        held = await text_of(page, "replay-countdown")
        await page.wait_for_timeout(500)
        assert await text_of(page, "replay-countdown") == held, "a pause must hold the clock"
        await page.click("[data-testid=replay-play]")  # on again
        await shot(page, f"{width}-replay-playing")
        # from the start at 50x (a slow screenshot may have let it run to the end: either way)
        await page.click("[data-testid=replay-restart]")
        assert await text_of(page, "replay-countdown") == "1:00", "a restart holds the opening"
        await page.click("[data-testid=replay-speed][data-speed='50']")
        await page.click("[data-testid=replay-play]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=replay-countdown]').innerText === 'Closed'",
            timeout=10_000,
        )
        assert await text_of(page, "replay-state") == "Sold to hal"
        assert await text_of(page, "replay-price") == "$30.00"
        # ivy's late bid (at 55 s, later voided) and hal's (56 s) each moved the deadline
        assert "2 times" in await text_of(page, "replay-extensions")
        assert await page.locator("[data-testid=replay-bid]").count() == 5
        struck = page.locator("[data-testid=replay-bid].voided")
        assert await struck.count() == 1
        assert "$90.00" in await struck.inner_text() and "voided" in await struck.inner_text()
        await shot(page, f"{width}-replay-closed")
        await page.click("[data-testid=replay-restart]")
        assert await page.locator("[data-testid=replay-bid]").count() == 0
        assert await text_of(page, "replay-price") == "—"

        # The whole sale: its lots listed beside the lot in view.
        await page.goto(base + "/#replay/sale/spring")
        await page.wait_for_selector("[data-testid=replay-lots]")
        assert await page.locator("[data-testid=replay-lots] [data-testid=replay-lot]").count() == 5
        await page.click("[data-testid=replay-speed][data-speed='50']")
        await page.click("[data-testid=replay-play]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=replay-play]').innerText.includes('again')",
            timeout=10_000,
        )
        lots_text = await page.locator("[data-testid=replay-lots]").inner_text()
        assert "Withdrawn by the house" in lots_text and "Bought now by gus" in lots_text
        assert await overflow(page) == []
        await shot(page, f"{width}-replay-sale")

        # Back to the saleroom: a closed lot's page links to its replay.
        await page.goto(base + "/#lot/vase")
        await page.wait_for_selector("main.layout", state="visible")
        assert await page.locator("#past-page").is_hidden()
        await page.click("[data-testid=lot-replay]")
        await page.wait_for_selector("[data-testid=replay-controls]")
        assert "Blue Vase" in await text_of(page, "replay-title")
        assert problems == []
        await context.close()


async def test_a_guest_reads_results_without_a_name_and_an_unknown_lot_is_said_in_words(
    browser: Any,
) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        await scripted_sale(server)
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{ports.http}/#results/spring")
        await page.wait_for_selector("[data-testid=results-table]")
        await page.wait_for_timeout(300)  # /api/info answered: the page would have asked by now
        assert not await page.locator("#name-dialog").is_visible(), "no name needed to read"
        # no live link without a name, and the top bar says so rather than "Connecting…"
        assert await text_of(page, "conn") == "Reading only"
        await page.goto(f"http://127.0.0.1:{ports.http}/#replay/lot/nope")
        await page.wait_for_selector("[data-testid=past-error]")
        assert "There is no lot" in await text_of(page, "past-error")
        await page.goto(f"http://127.0.0.1:{ports.http}/#replay/lot/clock")
        await page.wait_for_selector("[data-testid=replay-controls]")
        await page.click("[data-testid=past-back]")  # to the results
        await page.wait_for_selector("[data-testid=results-table]")
        assert not await page.locator("#name-dialog").is_visible()
        await page.click("[data-testid=past-back]")  # to the saleroom: now a name is asked
        await page.wait_for_selector("#name-dialog", state="visible")
        assert await page.locator("main.layout").is_visible()
        await page.close()


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_a_replay_skips_a_quiet_hour_and_says_so_unless_told_not_to(
    browser: Any, width: str
) -> None:
    """An hour's lot whose only bids come 50 minutes in: at 10x it would show a still countdown
    for five minutes; it skips the stretch, says how long it skipped, and plays the bids and
    the last seconds of the countdown as they happened. Unticked, the hour plays in full."""
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house
        hour = {**TIMED, "opening_ms": 60 * MINUTE}
        desk = LotSpec("desk", "Oak Desk", **hour)  # type: ignore[arg-type]
        await house.add_sale(SaleSpec("late", "Late Sale", ("desk",), mode="timed"), [desk])
        house.start()
        await settled(server)
        tokens = GuestTokens()
        async with server.client() as anyone:
            server.clock.advance(50 * MINUTE)
            await bid(anyone, tokens, "desk", "gus", 1_000)
            server.clock.advance(5_000)
            await bid(anyone, tokens, "desk", "ivy", 1_500)
            server.clock.advance(10 * MINUTE)
            house.run_due()
            await settled(server)
        base = f"http://127.0.0.1:{ports.http}"
        context = await browser.new_context(viewport=VIEWPORTS[width], locale="en-US")
        page = await context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(base + "/#replay/lot/desk")
        await page.wait_for_selector("[data-testid=replay-controls]")
        assert await page.locator("[data-testid=replay-skip]").is_checked()
        await page.click("[data-testid=replay-speed][data-speed='10']")
        await page.click("[data-testid=replay-play]")
        # 50 minutes of nothing: skipped within a second of the opening's first 5 s (0.5 s at 10x)
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=replay-skipped]')"
            ".innerText.includes('Skipped')",
            timeout=3_000,
        )
        said = await text_of(page, "replay-skipped")
        assert said == "Skipped 49:45 with nothing happening.", said
        await shot(page, f"{width}-replay-skipped")
        await page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=replay-bid]').length == 2",
            timeout=5_000,
        )
        # the bids played as they happened: ivy's 5 s after gus's, then the window counts down
        countdown = await text_of(page, "replay-countdown")
        assert countdown.startswith("9:"), countdown  # the lot's hour is past 50 min: 9:5x left
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=replay-countdown]').innerText === 'Closed'",
            timeout=8_000,
        )
        assert await text_of(page, "replay-state") == "Sold to ivy"

        # Unticked: the hour plays as it was, the countdown only a few seconds in at 50x.
        await page.click("[data-testid=replay-skip]")
        await page.click("[data-testid=replay-restart]")
        await page.click("[data-testid=replay-speed][data-speed='50']")
        await page.click("[data-testid=replay-play]")
        await page.wait_for_timeout(1_500)
        countdown = await text_of(page, "replay-countdown")
        assert countdown.startswith("58:") or countdown.startswith("59:"), countdown
        assert await page.locator("[data-testid=replay-bid]").count() == 0
        assert problems == []
        await context.close()
