"""Bid histories on the web page (history.js): My bids from the top bar, a sale's bids from the
lot panel, and an anonymous sale's pseudonyms; a page at a time, automatic bids marked and
voided ones struck; at desktop and phone widths, in both themes' default (dark).

Real browsers (Debian's chromium through Playwright's async API) on a real HTTP and WebSocket
server over the in-process engine. Screenshots go to /tmp/shots-history/ (or BIDWIRE_SHOTS).
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

SHOTS = Path(os.environ.get("BIDWIRE_SHOTS") or "/tmp/shots-history")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
TEN_MINUTES = 600_000

# Whether any row's parts overflow the row, or the top bar's controls overlap each other.
OVERFLOWS = """() => {
  const rows = [...document.querySelectorAll('[data-testid=history-view-row]')];
  const bad = rows.filter((r) => r.scrollWidth > r.clientWidth + 1).map((r) => r.dataset.seq);
  const box = (e) => e.getBoundingClientRect();
  const bar = [...document.querySelectorAll('.topbar-right > *')].filter((e) => e.offsetParent);
  for (const a of bar) {
    if (box(a).right > innerWidth + 1 || box(a).left < -1) bad.push(`${a.className} off screen`);
  }
  for (const a of bar) for (const b of bar) {
    if (a === b) continue;
    const p = box(a), q = box(b);
    if (p.left < q.right - 1 && q.left < p.right - 1
        && p.top < q.bottom - 1 && q.top < p.bottom - 1)
      bad.push(`${a.className || a.id} over ${b.className || b.id}`);
  }
  return bad;
}"""


def lot(lot_id: str, title: str) -> LotSpec:
    return LotSpec(lot_id, title, starting_price=10_000, opening_ms=TEN_MINUTES)


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(150)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def rows(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=history-view-row]')].map((r) => ({
            text: r.innerText.replace(/\\s+/g, ' '), voided: r.classList.contains('voided'),
            auto: r.classList.contains('auto'), mine: r.classList.contains('mine')}))"""
    )
    return found


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_my_bids_and_a_sales_bids_in_the_page(browser: Any, width: str) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house
        lots = [lot("oil", "Oil Painting"), lot("quilt", "Patchwork Quilt")]
        await house.add_sale(SaleSpec("evening", "Evening sale", ("oil", "quilt"), "timed"), lots)
        await house.add_sale(
            SaleSpec("quiet", "Quiet sale", ("ring",), "timed", anonymous=True),
            [lot("ring", "Silver Ring")],
        )
        house.start()
        await settled(server)
        async with (
            server.client(server.bidder_token) as bea,
            server.client() as anyone,
            server.client(server.admin_token) as admin,
        ):
            guests = GuestTokens()
            for path, body in (
                ("oil", {"amount": 10_000}),
                ("oil", {"amount": 11_000, "bidder": "dan"}),
                ("quilt", {"max_amount": 30_000}),
                ("quilt", {"amount": 12_000, "bidder": "dan"}),  # bea's maximum answers
                ("oil", {"amount": 20_000, "bidder": "eve"}),  # a typo, voided below
                ("ring", {"amount": 10_000, "bidder": "dan"}),
                ("ring", {"amount": 15_000}),
            ):
                if "bidder" in body:
                    body = guests.body(body)
                    placed = guests.keep(
                        body, await anyone.post(f"/api/lots/{path}/bids", json=body)
                    )
                else:
                    placed = await bea.post(f"/api/lots/{path}/bids", json=body)
                assert placed.status_code == 200, placed.text
                server.clock.advance(1_000)
                await settled(server)
            typo = (await anyone.get("/api/lots/oil/bids")).json()["bids"][0]
            void = await admin.post("/api/admin/lots/oil/void", json={"seq": typo["seq"]})
            assert void.status_code == 200, void.text
            await settled(server)
            pseudonyms = {
                b["bidder"] for b in (await anyone.get("/api/lots/ring/bids")).json()["bids"]
            }

        context = await browser.new_context(viewport=VIEWPORTS[width], locale="en-US")
        base = f"http://127.0.0.1:{ports.http}"
        await context.add_cookies(
            [{"name": "bidwire_token", "value": server.bidder_token, "url": base}]
        )
        page = await context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(base + "/")
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)

        # My bids, from the top bar: every bid of mine, newest first, as mine.
        await page.click("[data-testid=my-bids-link]")
        await page.wait_for_selector("[data-testid=history-view-row]")
        assert await page.inner_text("[data-testid=history-view-title]") == "My bids"
        mine = await rows(page)
        assert [r["text"].split(" ")[0] for r in mine] == [
            "$150.00",
            "$122.50",
            "$100.00",
            "$100.00",
        ]
        assert mine[0]["text"].startswith("$150.00 Silver Ring others saw ")
        assert mine[1]["auto"] and "automatic" in mine[1]["text"]
        assert "your maximum $300.00" in mine[2]["text"]
        assert await page.evaluate(OVERFLOWS) == []
        await shot(page, f"{width}-my-bids")

        # Closed, then (on the oil painting's page) its sale, from the lot panel's history.
        await page.click("[data-testid=history-view-close]")
        await page.wait_for_selector("[data-testid=history-view]", state="hidden")
        assert await page.evaluate(OVERFLOWS) == []
        await shot(page, f"{width}-page")
        await page.evaluate("location.hash = '#lot/oil'")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=lot-title]').innerText === 'Oil Painting'"
        )
        link = page.locator("[data-testid=sale-bids-link]")
        await link.scroll_into_view_if_needed()
        await link.click()
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=history-view-title]').innerText"
            " === 'Bids in Evening sale'"
        )
        await page.wait_for_selector("[data-testid=history-view-row]")
        sale = await rows(page)
        assert [r["text"].split(" ")[0] for r in sale] == [
            "$200.00",
            "$122.50",
            "$120.00",
            "$100.00",
            "$110.00",
            "$100.00",
        ]
        assert [r["voided"] for r in sale] == [True, False, False, False, False, False]
        assert "by eve voided" in sale[0]["text"]
        assert [r["mine"] for r in sale] == [False, True, False, True, False, True]
        assert "by you automatic" in sale[1]["text"] and "by dan" in sale[2]["text"]
        assert await page.evaluate(OVERFLOWS) == []
        await shot(page, f"{width}-sale-bids")
        await page.emulate_media(color_scheme="dark")
        await shot(page, f"{width}-sale-bids-dark")
        await page.emulate_media(color_scheme="light")

        # An anonymous sale, by its link, two bids to a page would be: the pseudonyms only.
        await page.goto(base + "/#history/sale/quiet")
        await page.wait_for_selector("[data-testid=history-view-row]")
        quiet_rows = await rows(page)
        quiet = " ".join(r["text"] for r in quiet_rows)
        assert "dan" not in quiet
        # bea's own bid is hers ("by you", by the pseudonym told to her page alone); dan's
        # stays the pseudonym the public sees
        assert [r["mine"] for r in quiet_rows] == [True, False], quiet_rows
        assert "by you" in quiet_rows[0]["text"]
        assert [p for p in pseudonyms if p in quiet_rows[1]["text"]], quiet_rows
        await page.goto(base + "/#history/sale/nowhere")
        await page.wait_for_function(
            "() => document.querySelector('.hv-status').innerText.includes('There is no sale')"
        )
        assert await page.inner_text("[data-testid=history-view-title]") == "Bid history"
        await shot(page, f"{width}-unknown")
        await page.keyboard.press("Escape")
        await page.wait_for_selector("[data-testid=history-view]", state="hidden")
        assert problems == [] or all("404" in p for p in problems), problems
        await context.close()


async def test_older_bids_come_a_page_at_a_time(browser: Any) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house
        await house.add_sale(SaleSpec("big", "Big sale", ("vase",), "timed"), [lot("vase", "Vase")])
        house.start()
        await settled(server)
        async with server.client() as anyone:
            guests = GuestTokens()
            for n in range(60):
                body = guests.body(
                    {"amount": 10_000 + 1_000 * n, "bidder": "ann" if n % 2 else "ben"}
                )
                placed = guests.keep(body, await anyone.post("/api/lots/vase/bids", json=body))
                assert placed.status_code == 200, placed.text
                server.clock.advance(10)
            await settled(server)
        context = await browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")
        base = f"http://127.0.0.1:{ports.http}"
        await context.add_cookies(
            [{"name": "bidwire_token", "value": server.bidder_token, "url": base}]
        )
        page = await context.new_page()
        await page.goto(base + "/#history/lot/vase")
        await page.wait_for_selector("[data-testid=history-view-row]")
        assert len(await rows(page)) == 50
        assert await page.inner_text("[data-testid=history-view-title]") == "Bids on Vase"
        await page.click("[data-testid=history-view-more]")
        await page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=history-view-row]').length === 60"
        )
        await page.wait_for_selector("[data-testid=history-view-more]", state="hidden")
        shown = await rows(page)
        assert shown[0]["text"].startswith("$690.00") and shown[-1]["text"].startswith("$100.00")
        await context.close()
        # a newcomer who follows a history link reads it with no name asked on top; the
        # name is asked when they close it for the saleroom
        context = await browser.new_context(viewport=VIEWPORTS["phone"], locale="en-US")
        page = await context.new_page()
        await page.goto(base + "/#history/lot/vase")
        await page.wait_for_selector("[data-testid=history-view-row]")
        await page.wait_for_timeout(300)  # /api/info answered: the page would have asked by now
        assert not await page.locator("#name-dialog").is_visible(), "no name needed to read"
        await page.click("[data-testid=history-view-close]")
        await page.wait_for_selector("#name-dialog", state="visible")
        await context.close()
