"""The admin page at phone and desktop widths (issue 12, defect 9): measured from the boxes
the browser lays out, no two pieces of text overlap, no word is split across lines and the
page does not scroll sideways. Screenshots of each go to BIDWIRE_SHOTS (a directory) when set,
else to tmp_path."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_helpers import NEEDS_CHROMIUM, InProcess, in_process, serving

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

LAYOUT_PROBLEMS = r"""
() => {
  // Every visible word on the page, as the browser laid it out: a word is a run of letters
  // and digits between spaces and hyphens (a line may break after a hyphen, as in print).
  const words = [];
  const split = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || !node.data.trim()) continue;
    if (parent.closest(".visually-hidden, script, style, noscript, option, template")) continue;
    if (!parent.checkVisibility({ visibilityProperty: true, opacityProperty: true })) continue;
    const pattern = /[^\s\-‐–—\/·]+/g;
    for (let m = pattern.exec(node.data); m; m = pattern.exec(node.data)) {
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const rects = [...range.getClientRects()].filter((r) => r.width > 0.5 && r.height > 0.5);
      if (!rects.length) continue;
      const lines = new Set(rects.map((r) => Math.round(r.bottom)));
      const tag = parent.tagName.toLowerCase();
      if (lines.size > 1) split.push(`"${m[0]}" in <${tag}> "${node.data.trim().slice(0, 60)}"`);
      for (const r of rects) {
        words.push({ word: m[0], tag, l: r.left, r: r.right, t: r.top, b: r.bottom });
      }
    }
  }
  const overlaps = [];
  const slack = 1; // a pixel of anti-aliasing
  for (let i = 0; i < words.length; i++) {
    const a = words[i];
    for (let j = i + 1; j < words.length; j++) {
      const b = words[j];
      const x = Math.min(a.r, b.r) - Math.max(a.l, b.l);
      const y = Math.min(a.b, b.b) - Math.max(a.t, b.t);
      if (x > slack && y > slack) {
        overlaps.push(`"${a.word}" (<${a.tag}>) over "${b.word}" (<${b.tag}>)`);
      }
    }
  }
  const width = document.documentElement.clientWidth;
  const outside = words.filter((w) => w.r > width + slack || w.l < -slack).map((w) => w.word);
  return {
    words: words.length,
    split,
    overlaps: overlaps.slice(0, 20),
    outside: outside.slice(0, 20),
    sideways: document.documentElement.scrollWidth - width,
  };
}
"""


async def layout_problems(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = await page.evaluate(LAYOUT_PROBLEMS)
    return found


def assert_laid_out(found: dict[str, Any], what: str) -> None:
    assert found["words"] > 30, f"{what}: too few words measured to prove anything: {found}"
    assert found["split"] == [], f"{what}: words split across lines: {found['split']}"
    assert found["overlaps"] == [], f"{what}: text over text: {found['overlaps']}"
    assert found["outside"] == [] and found["sideways"] <= 0, f"{what}: off the page: {found}"


@dataclass
class Desk:
    server: InProcess
    base_url: str
    shots: Path


@asynccontextmanager
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    """The demo sale running (its first lot open, with bids) and an admin sale held."""
    async with in_process() as server, serving(server.ctx) as ports:
        house = server.ctx.house
        house.start()
        async with server.client(server.bidder_token) as bea, server.client() as guest:
            await asyncio.wait_for(house.settled(), 5)
            assert (
                await bea.post("/api/lots/vintage-watch/bids", json={"amount": 10_000})
            ).is_success
            placed = await guest.post(
                "/api/lots/vintage-watch/bids",
                json={"amount": 12_500, "bidder": "Maximiliana-Konstantinopoulou"},
            )
            assert placed.is_success, placed.text
        async with server.client(server.admin_token) as admin:
            created = await admin.post(
                "/api/admin/sales",
                json={
                    "title": "Contents of a country house, with garden statuary",
                    "mode": "timed",
                    "lots": [
                        {
                            "title": "Pair of cast-iron garden urns on square plinths",
                            "description": "Each about 90 cm high; weathered, one handle mended.",
                            "starting_price": 400,
                            "reserve": 650,
                        }
                    ],
                },
            )
            assert created.is_success, created.text
        await asyncio.wait_for(house.settled(), 5)
        shots = Path(os.environ.get("BIDWIRE_SHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        yield Desk(server, f"http://127.0.0.1:{ports.http}", shots)


async def log_in(browser: Any, d: Desk, viewport: dict[str, int]) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context(viewport=viewport, locale="en-US")
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(d.base_url + "/admin")
    await page.wait_for_selector("[data-testid=login-form]:not([hidden])")
    await page.fill("#login-username", "root")
    await page.fill("#login-password", "root-password")
    await page.click("[data-testid=login-submit]")
    await page.wait_for_selector("[data-testid=sales] tr[data-lot=vintage-watch]")
    await page.wait_for_selector("[data-testid=users] tr[data-user=bea]")
    return context, page, problems


@pytest.mark.parametrize("size", ["phone", "desktop"])
async def test_the_admin_page_lays_out_without_overlaps_or_split_words(
    browser: Any, tmp_path: Path, size: str
) -> None:
    viewport = PHONE if size == "phone" else DESKTOP
    async with desk(tmp_path) as d:
        # The login form first: the header and the form alone.
        context = await browser.new_context(viewport=viewport, locale="en-US")
        page = await context.new_page()
        await page.goto(d.base_url + "/admin")
        await page.wait_for_selector("[data-testid=login-form]:not([hidden])")
        found = await layout_problems(page)
        assert found["split"] == [] and found["overlaps"] == [], found
        await context.close()

        context, page, problems = await log_in(browser, d, viewport)
        await page.screenshot(path=str(d.shots / f"{size}-admin.png"), full_page=True)
        assert_laid_out(await layout_problems(page), f"{size}: the admin page")
        # The header names the site beside "Administration", logged in and on a phone too.
        assert await page.locator(".topbar .brand-mark").is_visible()
        assert await page.locator(".topbar .brand-name").is_visible()
        # With a lot's edit form and the bids of a lot open, and the audit log filled in.
        await page.click("tr[data-lot=antique-vase] button:has-text('Edit')")
        await page.wait_for_selector("[data-testid=edit-reserve]")
        await page.click("tr[data-lot=vintage-watch] button:has-text('Bids')")
        await page.wait_for_selector("[data-testid=bids] tr[data-seq]")
        await page.click("[data-sale=demo] button:has-text('Add lots')")
        await page.wait_for_selector("[data-sale=demo] [data-testid=add-lots-form]")
        await page.screenshot(path=str(d.shots / f"{size}-admin-open.png"), full_page=True)
        assert_laid_out(await layout_problems(page), f"{size}: forms and bids open")
        assert problems == []
        await context.close()
