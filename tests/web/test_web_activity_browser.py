"""My activity on the web page (activity.js): after bids, a watch, notices arriving (the
browser's Notification API, granted through the Playwright context and counted by wrapping
window.Notification) and the inbox after a reload; at desktop and phone widths.

Real browsers (Debian's chromium through Playwright's async API) on a real HTTP and WebSocket
server over the in-process engine, whose clock the test moves. Screenshots go to
/tmp/shots-activity/ (or BIDWIRE_SHOTS).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from web_helpers import NEEDS_CHROMIUM, InProcess, in_process, serving

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

SHOTS = Path(os.environ.get("BIDWIRE_SHOTS") or "/tmp/shots-activity")
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
TEN_MINUTES = 600_000

# Counts every Notification the page makes (and every permission asked), and says the person
# is in another tab: notices outside the tab are what the Notification API is for.
WRAP_NOTIFICATION = """
window.__notes = [];
window.__asked = 0;
const Real = window.Notification;
if (Real) {
  class Counted extends Real {
    constructor(title, options) {
      window.__notes.push({ title, body: (options || {}).body || "" });
      super(title, options);
    }
  }
  Object.defineProperty(Counted, "permission", { get: () => Real.permission });
  Counted.requestPermission = (...args) => {
    window.__asked += 1;
    return Real.requestPermission(...args);
  };
  window.Notification = Counted;
}
document.hasFocus = () => false;
window.__tones = 0;
const RealAudio = window.AudioContext;
if (RealAudio) {
  window.AudioContext = class extends RealAudio {
    createOscillator() { window.__tones += 1; return super.createOscillator(); }
  };
}
"""


# Which of the top bar's controls the activity opener's box overlaps (none, at any width).
OVERLAPS = """() => {
  const box = (e) => e.getBoundingClientRect();
  const mine = box(document.querySelector('[data-testid=activity-open]'));
  return [...document.querySelectorAll('.brand-name, .conn, #me, #logout, #admin-link')]
    .filter((e) => e.offsetParent !== null)
    .filter((e) => { const b = box(e); return b.left < mine.right && mine.left < b.right
      && b.top < mine.bottom && mine.top < b.bottom; })
    .map((e) => e.className || e.id);
}"""


def lot(lot_id: str, title: str) -> LotSpec:
    return LotSpec(lot_id, title, starting_price=10_000, opening_ms=TEN_MINUTES, extend_ms=60_000)


async def settled(server: InProcess) -> None:
    await asyncio.wait_for(server.ctx.house.settled(), 5)
    await asyncio.wait_for(server.ctx.feed.flushed(), 5)
    await asyncio.sleep(0)  # the activity settles the loop turn after the bus
    await asyncio.wait_for(server.ctx.activity.settled(), 5)


async def open_page(
    browser: Any, base_url: str, viewport: dict[str, int], *, token: str | None, grant: bool
) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context(viewport=viewport, locale="en-US")
    if grant:
        await context.grant_permissions(["notifications"], origin=base_url)
    if token is not None:
        await context.add_cookies([{"name": "bidwire_token", "value": token, "url": base_url}])
    await context.add_init_script(WRAP_NOTIFICATION)
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(base_url + "/")
    return context, page, problems


async def wait_text(page: Any, testid: str, words: str, timeout: float = 5.0) -> None:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_function(
            "([id, w]) => (document.querySelector(`[data-testid=${id}]`)?.innerText ?? '')"
            ".toLowerCase().includes(w.toLowerCase())",
            arg=[testid, words],
            timeout=timeout * 1000,
        )
    except PlaywrightTimeout:
        shown = await page.evaluate(
            "id => document.querySelector(`[data-testid=${id}]`)?.innerText", testid
        )
        raise AssertionError(f"{testid} says {shown!r}, not {words!r}") from None


async def notes(page: Any, count: int) -> list[dict[str, str]]:
    await page.wait_for_function("n => window.__notes.length >= n", arg=count, timeout=5_000)
    found: list[dict[str, str]] = await page.evaluate("window.__notes")
    return found


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(250)  # the drawer's slide-in
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("width", ["desktop", "phone"])
async def test_my_activity_a_watch_notices_and_the_inbox_after_a_reload(
    browser: Any, width: str
) -> None:
    viewport = VIEWPORTS[width]
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house
        lots = [lot("oil", "Oil Painting"), lot("quilt", "Patchwork Quilt")]
        await house.add_sale(SaleSpec("evening", "Evening sale", ("oil", "quilt"), "timed"), lots)
        later = SaleSpec("later", "Late sale", ("rug",), "timed", held=True)
        await house.add_sale(later, [lot("rug", "Persian Rug")])
        house.start()
        await settled(server)
        base = f"http://127.0.0.1:{ports.http}"
        context, page, problems = await open_page(
            browser, base, viewport, token=server.bidder_token, grant=True
        )
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        assert await page.evaluate(OVERLAPS) == [], "the opener covers the top bar's controls"
        star = page.locator("[data-testid=watch-star]")
        await star.wait_for(state="visible")
        shown = await star.get_attribute("data-lot")
        assert shown in ("oil", "quilt")
        title = "Oil Painting" if shown == "oil" else "Patchwork Quilt"
        other = "quilt" if shown == "oil" else "oil"

        # a watch by the star on the lot in view, and one over the API on a lot not open yet
        await star.click()
        await page.wait_for_selector("[data-testid=watch-star][aria-pressed=true]")
        async with server.client(server.bidder_token) as bea_api, server.client() as bob_api:
            assert (await bea_api.put("/api/me/watch/rug")).status_code == 200
            await page.fill("[data-testid=bid-amount]", "150")
            await page.click("[data-testid=bid-button]")
            await page.wait_for_function(
                "() => document.querySelector('[data-testid=feedback]').dataset.kind === 'ok'"
            )
            await page.click("[data-testid=activity-open]")  # on a phone it covers the page
            await wait_text(page, "activity-leading", title)
            await wait_text(page, "activity-bids", "$150.00")
            placed = await bea_api.post(f"/api/lots/{other}/bids", json={"amount": 20_000})
            assert placed.status_code == 200, placed.text
            await page.click("[data-testid=activity-close]")

            # bob outbids her on the lot she bid on in the page: told while she is away
            outbid = await bob_api.post(
                f"/api/lots/{shown}/bids", json={"amount": 30_000, "bidder": "bob"}
            )
            assert outbid.status_code == 200, outbid.text
            await settled(server)
            await wait_text(page, "activity-unread", "1")
            (first,) = await notes(page, 1)
            assert first["body"] == f"You have been outbid on {title}: the high bid is now $300.00."
            await house.start_sale("later", by="root")
            await settled(server)
            await wait_text(page, "activity-flash", "Persian Rug, which you watch, is open")
            second = (await notes(page, 2))[1]
            assert "Persian Rug" in second["body"] and "open for bids" in second["body"]
            await wait_text(page, "activity-unread", "2")
            await shot(page, f"{width}-notice")

            await page.click("[data-testid=activity-open]")
            await wait_text(page, "activity-outbid", title)
            await wait_text(page, "activity-outbid", "your bid $150.00")
            await wait_text(
                page, "activity-leading", "Patchwork Quilt" if other == "quilt" else "Oil"
            )
            await wait_text(page, "activity-watching", title)
            await wait_text(page, "activity-watching", "Persian Rug")
            await wait_text(page, "activity-notices", "outbid")
            await page.wait_for_selector("[data-testid=activity-unread]", state="hidden")
            await shot(page, f"{width}-activity")
            await page.click("[data-testid=activity-close]")

            # the hammer falls: she wins the other lot, and is told so while away
            server.clock.advance(2 * TEN_MINUTES)
            house.run_due()
            await settled(server)
            await wait_text(page, "activity-unread", "1")
            won = (await notes(page, 3))[2]
            assert won["body"].startswith("You won ") and "$200.00" in won["body"]

        # back later: the page reloads and the inbox still has what happened
        await page.reload()
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        await wait_text(page, "activity-unread", "1")
        await page.click("[data-testid=activity-open]")
        await wait_text(page, "activity-notices", "You won")
        await wait_text(page, "activity-notices", "Persian Rug, which you watch")
        await wait_text(page, "activity-notices", "You have been outbid")
        await wait_text(page, "activity-won", "$200.00")
        await wait_text(page, "activity-owed", "You owe $200.00")
        await shot(page, f"{width}-after-reload")
        assert await page.evaluate("window.__asked") == 0  # granted already: nothing to ask
        sound = page.locator("[data-testid=activity-sound]")
        assert not await sound.is_checked()  # a sound only when the person turns it on
        assert problems == [], problems
        await context.close()


async def test_notifications_are_asked_for_at_the_first_watch_never_on_load(
    browser: Any,
) -> None:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        house = server.ctx.house
        await house.add_sale(SaleSpec("evening", "Evening", ("oil",), "timed"), [lot("oil", "Oil")])
        house.start()
        await settled(server)
        base = f"http://127.0.0.1:{ports.http}"
        context, page, problems = await open_page(
            browser, base, VIEWPORTS["desktop"], token=None, grant=False
        )
        await page.fill("[data-testid=name-input]", "cara")
        await page.press("[data-testid=name-input]", "Enter")
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        await page.locator("[data-testid=watch-star]").wait_for(state="visible")
        assert await page.evaluate("window.__asked") == 0
        await page.click("[data-testid=watch-star]")
        await page.wait_for_function("() => window.__asked === 1", timeout=5_000)
        await page.wait_for_selector("[data-testid=watch-star][aria-pressed=true]")
        await page.click("[data-testid=watch-star]")  # off, and on again: asked only once
        await page.click("[data-testid=watch-star]")
        await page.wait_for_selector("[data-testid=watch-star][aria-pressed=true]")
        assert await page.evaluate("window.__asked") == 1

        # the sound is off until the person turns it on; then an outbid rings
        await page.click("[data-testid=activity-open]")
        sound = page.locator("[data-testid=activity-sound]")
        assert not await sound.is_checked() and await page.evaluate("window.__tones") == 0
        await sound.check()
        rung = await page.evaluate("window.__tones")
        assert rung > 0  # a sample at the click, which also lets the browser play sounds
        await page.click("[data-testid=activity-close]")
        async with server.client() as api:
            await page.fill("[data-testid=bid-amount]", "150")
            await page.click("[data-testid=bid-button]")
            await page.wait_for_function(
                "() => document.querySelector('[data-testid=feedback]').dataset.kind === 'ok'"
            )
            outbid = await api.post("/api/lots/oil/bids", json={"amount": 30_000, "bidder": "dan"})
            assert outbid.status_code == 200, outbid.text
        await page.wait_for_function("n => window.__tones > n", arg=rung, timeout=5_000)
        assert await page.evaluate("localStorage.getItem('bidwire.sound')") == "on"
        assert problems == [], problems
        await context.close()
