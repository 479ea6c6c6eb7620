"""The lot screen tells the truth (issue 12: defects 2, 4, 11 and the page's side of 1, 3, 6, 7).

Real browsers (Debian's chromium through Playwright's async API) on a real HTTP and WebSocket
server over the in-process engine, whose clock the test moves; every test runs at desktop
(1280x800) and phone (390x844) sizes. Screenshots go to tmp_path, or to BIDWIRE_SHOTS (a
directory) when set.

Where the server in this branch does not yet send what the identity contracts promise (the
`alias` message, `error` reason `blocked`, `welcome.confirm_above`), the test that needs it
looks at what the server really sent and skips, naming the missing message; the page's side of
those contracts is checked meanwhile with the missing message added to the real server's
WebSocket stream by Playwright (`route_web_socket`), never by a hook in the page.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import NEEDS_CHROMIUM, InProcess, in_process, serving

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
TEN_MINUTES = 600_000
LONG_NAME = "Maximilian_Alexander_Featherston"  # 32 characters, the longest a name may be


@dataclass
class Room:
    server: InProcess
    base_url: str
    shots: Path

    @property
    def house(self) -> Any:
        return self.server.ctx.house

    async def settled(self) -> None:
        await asyncio.wait_for(self.house.settled(), 5)
        await asyncio.wait_for(self.server.ctx.feed.flushed(), 5)

    async def later(self, ms: int) -> None:
        """The server's clock moves on by ``ms``, and what fell due is done."""
        self.server.clock.advance(ms)
        self.house.run_due()
        await self.settled()


@asynccontextmanager
async def room(
    tmp_path: Path, lots: list[LotSpec], *, mode: str = "timed", anonymous: bool = False
) -> AsyncIterator[Room]:
    async with in_process(demo=False) as server, serving(server.ctx) as ports:
        sale = SaleSpec(
            "evening",
            "Evening sale",
            tuple(spec.id for spec in lots),
            mode=mode,  # type: ignore[arg-type]
            anonymous=anonymous,
            pseudonym_salt="salt" if anonymous else "",
        )
        await server.ctx.house.add_sale(sale, lots)
        server.ctx.house.start()
        shots = Path(os.environ.get("BIDWIRE_SHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        r = Room(server, f"http://127.0.0.1:{ports.http}", shots)
        await r.settled()
        yield r


def lot(lot_id: str, title: str, **more: Any) -> LotSpec:
    return LotSpec(
        lot_id,
        title,
        description=more.pop("description", "A fine piece from a private collection."),
        starting_price=more.pop("starting_price", 10_000),
        opening_ms=more.pop("opening_ms", TEN_MINUTES),
        extend_ms=more.pop("extend_ms", TEN_MINUTES),
        **more,
    )


@dataclass
class Bidder:
    name: str
    page: Any
    label: str
    frames: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def text(self, testid: str) -> str:
        return str(await self.page.inner_text(f"[data-testid={testid}]"))

    async def attr(self, testid: str, name: str) -> str:
        return str(await self.page.get_attribute(f"[data-testid={testid}]", name) or "")

    async def wait(self, script: str, arg: Any = None, timeout: float = 5.0) -> None:
        await self.page.wait_for_function(script, arg=arg, timeout=timeout * 1000)

    async def wait_text(self, testid: str, words: str, timeout: float = 5.0) -> None:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            await self.wait(
                "([id, w]) => (document.querySelector(`[data-testid=${id}]`)?.innerText ?? '')"
                ".toLowerCase().includes(w.toLowerCase())",  # badges are in capitals
                [testid, words],
                timeout,
            )
        except PlaywrightTimeout:
            shown = await self.page.evaluate(
                "id => document.querySelector(`[data-testid=${id}]`)?.innerText", testid
            )
            raise AssertionError(f"{self.name}'s {testid} says {shown!r}, not {words!r}") from None

    async def view(self, lot_id: str) -> None:
        """Pick a lot in the sale list (a timed sale has several open at once)."""
        await self.page.click(f".sale-item[data-lot='{lot_id}']")
        await self.page.wait_for_selector(f".sale-item[data-lot='{lot_id}'][aria-current=true]")

    async def shot(self, r: Room, name: str) -> None:
        await self.page.wait_for_timeout(300)  # let toasts and the countdown's jump settle
        await self.page.screenshot(path=str(r.shots / f"{self.label}-{name}.png"), full_page=True)

    def messages(self, kind: str) -> list[dict[str, Any]]:
        found = []
        for frame in self.frames:
            try:
                message = json.loads(frame)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("type") == kind:
                found.append(message)
        return found


def label_of(size: dict[str, int]) -> str:
    return "phone" if size == PHONE else "desktop"


async def open_page(
    browser: Any, base_url: str, size: dict[str, int], name: str, **context: Any
) -> Bidder:
    made = await browser.new_context(viewport=size, locale="en-US", **context)
    bidder = Bidder(name, await made.new_page(), label_of(size))

    def on_socket(ws: Any) -> None:
        bidder.sockets.append(ws.url)
        ws.on("framereceived", lambda payload: bidder.frames.append(str(payload)))

    bidder.page.on("websocket", on_socket)
    bidder.page.on(
        "console",
        lambda m: bidder.problems.append(f"{name}: {m.text}") if m.type == "error" else None,
    )
    bidder.page.on("pageerror", lambda exc: bidder.problems.append(f"{name}: {exc}"))
    return bidder


async def join(
    browser: Any, r: Room, name: str, size: dict[str, int], title: str, **context: Any
) -> Bidder:
    bidder = await open_page(browser, r.base_url, size, name, **context)
    await bidder.page.goto(r.base_url + "/")
    await bidder.page.fill("[data-testid=name-input]", name)
    await bidder.page.press("[data-testid=name-input]", "Enter")
    await bidder.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
    await bidder.page.wait_for_selector(f"[data-testid=lot-title]:has-text('{title}')")
    return bidder


async def http_bid(r: Room, lot_id: str, amount: int, bidder: str) -> None:
    """A bid from someone else, over HTTP as any API client would."""
    async with httpx.AsyncClient(base_url=r.base_url, timeout=5) as http:
        body = {"amount": amount, "bidder": bidder}
        reply = await http.post(f"/api/lots/{lot_id}/bids", json=body)
        assert reply.status_code == 200, reply.text
    await r.settled()


BIDDING_OFF = """() => {
  const q = (id) => document.querySelector(`[data-testid=${id}]`);
  const buy = q('buy-now');
  return q('bid-button').disabled && q('bid-amount').disabled && q('max-amount').disabled
    && document.querySelectorAll('#quick .chip').length === 0
    && (q('buy-now-box').hidden || buy.disabled);
}"""

BIDDING_ON = """() => {
  const q = (id) => document.querySelector(`[data-testid=${id}]`);
  return !q('bid-button').disabled && !q('bid-amount').disabled && !q('max-amount').disabled
    && document.querySelectorAll('#quick .chip').length > 0;
}"""


TOPBAR_FITS = """() => {
  const box = (sel) => document.querySelector(sel).getBoundingClientRect();
  const name = document.querySelector('.brand-name');
  return document.documentElement.scrollWidth <= innerWidth
    && box('.brand-name').right <= box('.topbar-right').left
    && name.scrollWidth <= name.clientWidth
    && box('.conn-dot').width >= 8;  // the link's dot, not squeezed out of its pill
}"""


def clock_seconds(text: str) -> float:
    """'1:02' or '0:09.4' or '1:02:03' -> seconds."""
    seconds = 0.0
    for part in text.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


# -- defect 2: paused, resumed, withdrawn, cancelled ----------------------------------------


@SIZES
async def test_paused_resumed_withdrawn_and_cancelled_lots_do_not_look_live(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    lots = [
        lot("oil", "Oil Painting", buy_now=90_000, extend_ms=60_000),
        lot("vase", "Blue Vase", extend_ms=60_000),
    ]
    async with room(tmp_path, lots, mode="live") as r:
        ann = await join(browser, r, "ann", size, "Oil Painting")
        await ann.wait(BIDDING_ON)
        await ann.wait_text("lot-state", "Live")
        assert await ann.page.evaluate(TOPBAR_FITS)

        # The auctioneer pauses the sale with 9:20 left: within a second the page says so,
        # the clock stops at the time left, and nothing can be bid or bought.
        await r.later(40_000)
        await r.house.pause_sale("evening", by="root")
        await r.settled()
        left = r.house.lots["oil"].paused_remaining_ms
        assert left == TEN_MINUTES - 40_000
        await ann.wait_text("lot-state", "Paused", timeout=1.0)
        await ann.wait_text("standing", "Paused by the auctioneer", timeout=1.0)
        await ann.wait(BIDDING_OFF, timeout=1.0)
        await ann.wait_text("bid-button", "Paused by the auctioneer", timeout=1.0)
        await ann.wait(
            "ms => document.querySelector('[data-testid=countdown]').dataset.remainingMs"
            " === String(ms)",
            left,
            timeout=1.0,
        )
        shown = await ann.text("countdown")
        assert clock_seconds(shown) == left / 1000, shown
        await ann.page.wait_for_timeout(1500)  # a running clock would have moved by now
        assert await ann.text("countdown") == shown
        seen = await ann.page.evaluate("document.body.innerText")
        assert not re.search(r"\blive\b", seen, re.IGNORECASE), seen  # not the badge, nor the link
        await ann.shot(r, "paused")

        # A page opened while paused shows the same, from the snapshot's remaining_ms.
        await ann.page.reload()
        await ann.page.wait_for_selector("[data-testid=conn][data-state=live]")
        await ann.wait_text("lot-state", "Paused")
        await ann.wait(BIDDING_OFF)
        await ann.wait_text("countdown", shown)
        await ann.page.wait_for_timeout(1200)
        assert await ann.text("countdown") == shown

        # Resumed later: the clock runs again from the new ends_at, not the old deadline.
        await r.later(120_000)
        await r.house.resume_sale("evening", by="root")
        await r.settled()
        ends_at = r.house.lots["oil"].ends_at
        assert ends_at == r.server.clock.now_ms() + left
        await ann.wait_text("lot-state", "Live", timeout=1.0)
        await ann.wait(
            "e => document.querySelector('[data-testid=countdown]').dataset.endsAt === String(e)",
            ends_at,
            timeout=1.0,
        )
        await ann.wait(BIDDING_ON, timeout=1.0)
        assert "paused" not in (await ann.text("standing")).lower()

        # Withdrawn: said in words, never "not sold", never live, nothing to press.
        await r.house.withdraw_lot("oil", by="root")
        await r.settled()
        await ann.wait_text("lot-state", "Withdrawn", timeout=1.0)
        await ann.wait_text("standing", "Withdrawn by the auctioneer", timeout=1.0)
        await ann.wait(BIDDING_OFF, timeout=1.0)
        lot_text = (await ann.text("lot")).lower()
        assert "not sold" not in lot_text and "live" not in await ann.text("lot-state")
        await ann.shot(r, "withdrawn")

        # The next lot opens; the auctioneer cancels the sale: its lot is withdrawn, and why.
        await r.later(5_000)
        await ann.wait_text("lot-title", "Blue Vase")
        await ann.wait(BIDDING_ON)
        await r.house.cancel_sale("evening", by="root")
        await r.settled()
        # With no sale left running the main panel says so (defect 5) instead of a lot ...
        await ann.wait_text("idle-title", "The sale was cancelled", timeout=1.0)
        await ann.wait_text("toasts", "The sale was cancelled", timeout=1.0)
        await ann.shot(r, "cancelled")
        # ... and the lot's own page names why it closed, with nothing to press.
        await ann.page.evaluate("() => { location.hash = '#lot/vase'; }")
        await ann.wait_text("standing", "The sale was cancelled", timeout=1.0)
        await ann.wait_text("lot-state", "Cancelled", timeout=1.0)
        await ann.wait(BIDDING_OFF, timeout=1.0)
        assert "not sold" not in (await ann.text("lot")).lower()
        await ann.shot(r, "cancelled-lot-page")
        assert not ann.problems, ann.problems


# -- defect 4: the bid box follows the minimum ----------------------------------------------


BOX_IS = "v => document.querySelector('[data-testid=bid-amount]').value === v"


def units(r: Room, lot_id: str) -> str:
    """The lot's minimum now, as the bid box shows it ('130', or '130.50')."""
    minor = r.house.lots[lot_id].min_amount()
    return str(minor // 100) if minor % 100 == 0 else f"{minor // 100}.{minor % 100:02d}"


@SIZES
async def test_the_bid_box_follows_the_minimum_unless_the_person_is_typing(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    lots = [lot("oil", "Oil Painting"), lot("desk", "Writing Desk", starting_price=25_000)]
    async with room(tmp_path, lots) as r:
        ann = await join(browser, r, "ann", size, "")
        await ann.view("oil")
        await ann.wait(BOX_IS, "100")

        # ann types her bid and presses Enter: the box keeps the focus, and the bid is sent.
        await ann.page.fill("[data-testid=bid-amount]", "120")
        await ann.page.press("[data-testid=bid-amount]", "Enter")
        await ann.wait_text("feedback", "accepted")
        await ann.wait(BOX_IS, units(r, "oil"))  # the next minimum
        # Outbid: the box offers the new minimum, not her old, too-low amount.
        await http_bid(r, "oil", 15_000, "bob")
        await ann.wait_text("standing", "outbid")
        outbid_min = units(r, "oil")
        await ann.wait(BOX_IS, outbid_min, timeout=1.0)
        assert await ann.page.evaluate(
            "document.activeElement === document.querySelector('[data-testid=bid-amount]')"
        )

        # The auctioneer voids bob's bid: the minimum falls back, and the box with it.
        bob_seq = next(b.seq for b in r.house.lots["oil"].recent if b.bidder == "bob")
        await r.house.void_bid("oil", bob_seq, "root")
        await r.settled()
        after_void = units(r, "oil")
        assert after_void != outbid_min
        await ann.wait(BOX_IS, after_void, timeout=1.0)

        # While she is typing an amount of her own, it is left alone.
        await ann.page.fill("[data-testid=bid-amount]", "")
        await ann.page.type("[data-testid=bid-amount]", "40")  # still typing: "400" next
        await http_bid(r, "oil", 14_000, "cy")
        await ann.page.wait_for_timeout(300)
        assert await ann.page.input_value("[data-testid=bid-amount]") == "40"
        await ann.shot(r, "typing-kept")

        # Too low: refused, and the box offers the least the server would take.
        await ann.page.press("[data-testid=bid-amount]", "Enter")
        await ann.wait_text("feedback", "Too low")
        await ann.wait(BOX_IS, units(r, "oil"))

        # Another lot: its own minimum.
        await ann.view("desk")
        await ann.wait(BOX_IS, "250")
        await ann.shot(r, "new-lot-minimum")
        assert not ann.problems, ann.problems


# -- defect 11: names, toasts, the rule, the light theme ------------------------------------


NAMES_WHOLE = """(name) => {
  const names = [...document.querySelectorAll('[data-testid=history] .h-name')];
  return names.length > 0 && names.every((el) => el.scrollWidth <= el.clientWidth
      && el.getBoundingClientRect().right <= el.closest('li').getBoundingClientRect().right + 0.5)
    && names.some((el) => el.innerText.replace(/\\s/g, '').includes(name));
}"""

SCROLL_FORM_TO = """(where) => {
  const form = document.querySelector('[data-testid=bid-form]').getBoundingClientRect();
  const bar = document.querySelector('.topbar').getBoundingClientRect().bottom;
  const y = where === 'top' ? form.top - bar
    : where === 'middle' ? form.top - (innerHeight - form.height) / 2
    : form.bottom - innerHeight;
  window.scrollBy(0, y);
}"""

TOAST_CLEAR = """() => {
  const boxes = (sel) => [...document.querySelectorAll(sel)]
    .filter((el) => el.offsetParent !== null).map((el) => el.getBoundingClientRect());
  const controls = boxes('#bid-amount, #max-amount, #bid-button, #quick .chip, #buy-now');
  const toasts = boxes('[data-testid=toast]');
  const hit = (a, b) => a.left < b.right && b.left < a.right
    && a.top < b.bottom && b.top < a.bottom;
  return toasts.length > 0 && controls.length > 0
    && !toasts.some((t) => controls.some((c) => hit(t, c)));
}"""


@SIZES
async def test_whole_names_toasts_clear_of_the_controls_and_the_rule_in_words(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    lots = [
        lot("oil", "Oil Painting", extend_ms=10_000, buy_now=90_000),
        lot("vase", "Blue Vase", extend_ms=10_000),
    ]
    async with room(tmp_path, lots, mode="live") as r:
        ann = await join(browser, r, "ann", size, "Oil Painting")
        await ann.wait_text(
            "rule",
            "each bid resets the clock to 10 s; the lot sells when nobody bids for 10 s",
        )
        await http_bid(r, "oil", 10_000, LONG_NAME)
        await ann.page.fill("[data-testid=bid-amount]", "130")
        await ann.page.press("[data-testid=bid-amount]", "Enter")
        await ann.wait_text("feedback", "accepted")
        await ann.wait(NAMES_WHOLE, LONG_NAME)

        # Toasts (outbid, and more) never lie over the bid form, wherever it is in the window:
        # just under the top bar, in the middle, at the bottom edge.
        for where in ("top", "middle", "bottom"):
            await ann.page.evaluate(SCROLL_FORM_TO, where)
            await http_bid(r, "oil", r.house.lots["oil"].min_amount(), f"rival-{where}")
            await ann.wait_text("toasts", f"You have been outbid on Oil Painting: rival-{where}")
            await ann.page.wait_for_timeout(100)  # the toast's own frame
            await ann.wait(TOAST_CLEAR, timeout=1.0)
            await ann.page.screenshot(path=str(r.shots / f"{ann.label}-toasts-{where}.png"))
            await ann.page.click("#quick .chip")  # ann takes the lead back, to be outbid again
            await ann.page.click("[data-testid=bid-button]")
            await ann.wait_text("feedback", "accepted")
        await ann.wait(NAMES_WHOLE, LONG_NAME)
        row = ann.page.locator("[data-testid=history] li", has_text=LONG_NAME[:20])
        await row.scroll_into_view_if_needed()
        await ann.page.locator("[data-testid=history]").screenshot(
            path=str(r.shots / f"{ann.label}-long-name-history.png")
        )
        await ann.shot(r, "long-name")
        assert not ann.problems, ann.problems


@SIZES
async def test_a_timed_sale_explains_its_rule(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    async with room(tmp_path, [lot("oil", "Oil Painting", extend_ms=120_000)]) as r:
        ann = await join(browser, r, "ann", size, "Oil Painting")
        await ann.wait_text("rule", "Timed sale")
        await ann.wait_text("rule", "a bid in the last 2 min moves the close to 2 min after it")
        assert not ann.problems, ann.problems


BACKGROUND = "getComputedStyle(document.body).backgroundColor"


def lightness(css: str) -> float:
    """0 (black) to 1 (white) from a computed 'rgb(r, g, b)'."""
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@SIZES
async def test_a_light_theme_follows_the_system_and_a_toggle_it_remembers(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        light = await join(browser, r, "ann", size, "Oil Painting", color_scheme="light")
        assert lightness(await light.page.evaluate(BACKGROUND)) > 0.8
        await light.shot(r, "light-theme")
        await light.page.click("[data-testid=theme-toggle]")
        await light.wait(f"() => {BACKGROUND}.startsWith('rgb(11, 16, 32')")
        await light.page.reload()  # remembered in this browser
        await light.page.wait_for_selector("[data-testid=conn][data-state=live]")
        assert lightness(await light.page.evaluate(BACKGROUND)) < 0.2
        assert await light.page.evaluate("localStorage.getItem('bidwire.theme')") == "dark"
        await light.shot(r, "dark-theme-chosen")

        dark = await join(browser, r, "bob", size, "Oil Painting", color_scheme="dark")
        assert lightness(await dark.page.evaluate(BACKGROUND)) < 0.2
        await dark.page.click("[data-testid=theme-toggle]")
        await dark.wait(f"() => {BACKGROUND}.startsWith('rgb(245, 246, 250')")
        name = await dark.page.get_attribute("[data-testid=theme-toggle]", "aria-label")
        assert name == "Switch to the dark theme"
        assert not light.problems + dark.problems, light.problems + dark.problems


# -- the page's side of the identity contracts (defects 3, 6, 7; point 1's house limit) -------


@SIZES
async def test_a_guest_given_another_name_is_told(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        first = await join(browser, r, "bob", size, "Oil Painting")
        second = await join(browser, r, "bob", size, "Oil Painting")
        assert await second.text("me-name") in ("bob-2", "")  # the name is hidden on a phone
        assert second.messages("welcome")[0]["user"] == "bob-2"
        await second.wait_text("notice", "bob is taken by another guest; you bid as bob-2")
        await second.shot(r, "renamed-guest")
        assert await first.page.is_hidden("[data-testid=notice]")
        assert not first.problems + second.problems, first.problems + second.problems


@SIZES
async def test_you_in_an_anonymous_sale_from_the_server(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    """Against the real server: needs its `alias` message (or `bid_accepted.bidder`)."""
    async with room(tmp_path, [lot("oil", "Oil Painting")], anonymous=True) as r:
        ann = await join(browser, r, "ann", size, "Oil Painting")
        await ann.page.click("[data-testid=bid-button]")
        await ann.wait_text("feedback", "accepted")
        told = ann.messages("alias") or [m for m in ann.messages("bid_accepted") if m.get("bidder")]
        if not told:
            pytest.skip(
                "the server in this branch sends no `alias` message and no bid_accepted.bidder"
                " (issue 12 contract 'Your pseudonym', H3's identity package)"
            )
        await you_in_an_anonymous_sale(r, ann)


async def you_in_an_anonymous_sale(r: Room, ann: Bidder) -> None:
    """ann leads the lot she bid on, under her pseudonym: the page calls her "you"."""
    shown = r.house.public_name("evening", "ann")
    assert shown != "ann"
    await ann.wait_text("standing", "You are leading")
    await ann.wait_text("history", f"{shown} (you)")
    await ann.wait_text("leader", "by you")
    await http_bid(r, "oil", r.house.lots["oil"].min_amount(), "bob")
    await ann.wait_text("standing", "You have been outbid")
    await ann.wait_text("toasts", "You have been outbid")
    assert "(you)" not in (await ann.page.inner_text("[data-testid=history] li.top"))
    await ann.page.click("[data-testid=bid-button]")
    await ann.wait_text("standing", "You are leading")
    await ann.shot(r, "anonymous-you")
    await r.later(2 * TEN_MINUTES)
    # The sale's only lot is sold: the panel says the sale ended, and that she won.
    await ann.wait_text("idle-text", "You won Oil Painting for")
    assert "you" not in shown.lower()


@SIZES
async def test_a_blocked_user_is_told_and_not_reconnected_by_the_server(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    """Against the real server: needs its `error` with reason `blocked` before the close."""
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        bea = await open_page(browser, r.base_url, size, "bea")
        await log_in(bea, r, "bea", "bea-password")
        async with httpx.AsyncClient(
            base_url=r.base_url,
            headers={"authorization": f"Bearer {r.server.admin_token}"},
            timeout=5,
        ) as admin:
            reply = await admin.post("/api/admin/users/bea/block")
            assert reply.status_code == 200, reply.text
        await bea.wait("() => document.querySelector('[data-testid=conn]').dataset.state != 'live'")
        if not [m for m in bea.messages("error") if m.get("reason") == "blocked"]:
            pytest.skip(
                "the server in this branch closes a blocked user's connection without an `error`"
                " reason `blocked` (issue 12 contract 'Blocked mid-session', H3's identity package)"
            )
        await told_blocked_and_stays_down(bea, r)


async def log_in(bidder: Bidder, r: Room, username: str, password: str) -> None:
    await bidder.page.goto(r.base_url + "/")
    await bidder.page.click("[data-testid=mode-login]")
    await bidder.page.fill("[data-testid=login-username]", username)
    await bidder.page.fill("[data-testid=login-password]", password)
    await bidder.page.click("[data-testid=login-submit]")
    await bidder.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)


async def told_blocked_and_stays_down(bidder: Bidder, r: Room) -> None:
    await bidder.wait_text("notice", "The auctioneer has blocked your account")
    await bidder.page.wait_for_selector("[data-testid=conn][data-state=ended]")
    await bidder.wait(BIDDING_OFF)
    sockets = len(bidder.sockets)
    await bidder.page.wait_for_timeout(2500)  # the page's first retries come within 1 s
    assert len(bidder.sockets) == sockets, bidder.sockets
    page_text = (await bidder.page.inner_text("body")).lower()
    assert "restarting" not in page_text and "reconnecting" not in page_text
    await bidder.shot(r, "blocked")


@SIZES
async def test_a_bid_above_the_house_limit_is_asked_about_by_the_server_setting(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    """Against `bidwire serve --confirm-above 500`: needs the setting and welcome.confirm_above."""
    from web_helpers import BIDWIRE, ServerProcess

    usage = subprocess.run(
        [str(BIDWIRE), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    if "--confirm-above" not in usage:
        pytest.skip(
            "the server in this branch has no --confirm-above, so no welcome.confirm_above"
            " (issue 12 contract 'House confirm limit', H3's identity package)"
        )
    server = ServerProcess(
        "memory://",
        ["--demo", "--confirm-above", "500", "--opening-seconds", "600", "--extend-seconds", "600"],
    )
    server.start()
    try:
        ann = await open_page(browser, server.base_url, size, "ann")
        await ann.page.goto(server.base_url + "/")
        await ann.page.fill("[data-testid=name-input]", "ann")
        await ann.page.press("[data-testid=name-input]", "Enter")
        await ann.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        assert ann.messages("welcome")[0].get("confirm_above") == 50_000
        await ann.wait(BIDDING_ON)
        await asked_above_the_limit(ann)
    finally:
        server.stop()


async def asked_above_the_limit(ann: Bidder) -> None:
    """A maximum of $600.00 over a $500.00 limit is asked about, in words; "no" places nothing."""
    asked: list[str] = []

    async def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    ann.page.on("dialog", answer)
    await ann.page.fill("[data-testid=max-amount]", "600")
    await ann.page.click("[data-testid=bid-button]")
    await ann.wait_text("feedback", "Not placed.")
    assert len(asked) == 1 and "maximum of $600.00" in asked[0] and "$500.00" in asked[0], asked
    ann.page.remove_listener("dialog", answer)
    # Under the limit (and near the minimum): placed without a question.
    await ann.page.fill("[data-testid=max-amount]", "")
    await ann.page.click("[data-testid=bid-button]")
    await ann.wait_text("feedback", "accepted")
    assert len(asked) == 1


# The same contracts with the server's missing messages added to its real stream by Playwright
# (route_web_socket): the page's side is checked now, whatever the server in this branch sends.


@dataclass
class Relay:
    """The page's WebSocket, relayed to the real server, with messages added after `welcome`."""

    after_welcome: list[dict[str, Any]] = field(default_factory=list)
    welcome_extra: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] | None = None  # sent, then the socket closed 1008, once welcomed
    connections: int = 0
    routes: list[Any] = field(default_factory=list)
    hellos: list[dict[str, Any]] = field(default_factory=list)
    closing: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, ws: Any) -> None:
        self.connections += 1
        server = ws.connect_to_server()
        self.routes.append(ws)

        def from_page(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message.get("type") == "hello":
                self.hellos.append(message)
            server.send(raw)

        ws.on_message(from_page)

        def from_server(raw: str | bytes) -> None:
            text = raw if isinstance(raw, str) else raw.decode()
            message = json.loads(text)
            if message.get("type") != "welcome":
                ws.send(text)
                return
            ws.send(json.dumps({**message, **self.welcome_extra}))
            for extra in self.after_welcome:
                ws.send(json.dumps({**extra, "ts": message["ts"]}))
            if self.final is not None:
                ws.send(json.dumps({**self.final, "ts": message["ts"]}))
                task = asyncio.ensure_future(ws.close(code=1008, reason=self.final["reason"]))
                self.closing.add(task)
                task.add_done_callback(self.closing.discard)

        server.on_message(from_server)


async def relayed(browser: Any, r: Room, size: dict[str, int], name: str, relay: Relay) -> Bidder:
    bidder = await open_page(browser, r.base_url, size, name)
    await bidder.page.route_web_socket(re.compile(r".*/ws$"), relay.handle)
    return bidder


@SIZES
async def test_you_in_an_anonymous_sale_with_the_alias_message_added(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    async with room(tmp_path, [lot("oil", "Oil Painting")], anonymous=True) as r:
        shown = r.house.public_name("evening", "ann")
        alias = {"type": "alias", "sale": "evening", "bidder": shown}
        ann = await relayed(browser, r, size, "ann", Relay(after_welcome=[alias]))
        await ann.page.goto(r.base_url + "/")
        await ann.page.fill("[data-testid=name-input]", "ann")
        await ann.page.press("[data-testid=name-input]", "Enter")
        await ann.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        await ann.page.click("[data-testid=bid-button]")
        await ann.wait_text("feedback", "accepted")
        bob = await join(browser, r, "cy", size, "Oil Painting")
        await you_in_an_anonymous_sale(r, ann)
        # Someone else's page calls nobody "you" (the sold lot's own page, after the sale).
        await bob.page.evaluate("() => { location.hash = '#lot/oil'; }")
        await bob.wait_text("history", shown)
        assert "(you)" not in await bob.text("history")
        assert not ann.problems + bob.problems, ann.problems + bob.problems


@SIZES
async def test_a_blocked_user_is_told_and_not_reconnected_with_the_error_added(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    blocked = {
        "type": "error",
        "code": "forbidden",
        "reason": "blocked",
        "message": "the auctioneer has blocked your account; you can no longer bid here",
    }
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        relay = Relay()
        bea = await relayed(browser, r, size, "bea", relay)
        await log_in(bea, r, "bea", "bea-password")
        relay.final = blocked
        route = relay.routes[-1]
        await route.close(code=1008, reason="policy")  # the page reconnects and is told
        await bea.wait_text("notice", "The auctioneer has blocked your account")
        await bea.page.wait_for_selector("[data-testid=conn][data-state=ended]")
        await bea.wait(BIDDING_OFF)
        assert await bea.page.evaluate(TOPBAR_FITS)
        connections = relay.connections
        await bea.page.wait_for_timeout(2500)  # the page's first retries come within 1 s
        assert relay.connections == connections
        page_text = (await bea.page.inner_text("body")).lower()
        assert "restarting" not in page_text and "reconnecting" not in page_text
        await bea.shot(r, "blocked")
        assert not bea.problems, bea.problems


@SIZES
async def test_a_logged_out_token_is_told_and_asked_to_log_in_with_the_error_added(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    logged_out = {
        "type": "error",
        "code": "forbidden",  # as a blocked user's: "similarly", says the contract
        "reason": "logged_out",
        "message": "your session has ended",
    }
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        relay = Relay()
        bea = await relayed(browser, r, size, "bea", relay)
        await log_in(bea, r, "bea", "bea-password")
        relay.final = logged_out
        await relay.routes[-1].close(code=1008, reason="policy")
        await bea.wait_text("account-error", "You were logged out")
        assert await bea.page.is_visible("[data-testid=login-username]")
        connections = relay.connections
        await bea.page.wait_for_timeout(2500)
        assert relay.connections == connections
        await bea.shot(r, "logged-out")
        assert not bea.problems, bea.problems


@SIZES
async def test_a_bid_above_the_house_limit_is_asked_about_with_confirm_above_added(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        ann = await relayed(browser, r, size, "ann", Relay(welcome_extra={"confirm_above": 50_000}))
        await ann.page.goto(r.base_url + "/")
        await ann.page.fill("[data-testid=name-input]", "ann")
        await ann.page.press("[data-testid=name-input]", "Enter")
        await ann.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        await asked_above_the_limit(ann)
        assert not ann.problems, ann.problems


@SIZES
async def test_a_guest_comes_back_as_the_same_guest_after_a_reload(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    """Against the real server: a guest who bid reloads the page and is the same guest, not told
    another name (once the server keeps a guest's name for its session, the page must say which
    session it is: the welcome's guest_token, sent back in hello)."""
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        bob = await join(browser, r, "bob", size, "Oil Painting")
        await bob.page.click("[data-testid=bid-button]")
        await bob.wait_text("feedback", "accepted")
        await bob.page.reload()
        await bob.page.wait_for_selector("[data-testid=conn][data-state=live]")
        welcomes = bob.messages("welcome")
        # The reloaded page is bob again: the handshake's cookie resumes his session and the
        # page's hello (with his guest_token) is welcomed as bob too; never a bob-2.
        assert len(welcomes) >= 2 and {w["user"] for w in welcomes} == {"bob"}, welcomes
        await bob.wait_text("standing", "You are leading")
        assert await bob.page.is_hidden("[data-testid=notice]")
        assert not bob.problems, bob.problems


@SIZES
async def test_the_guest_token_is_kept_and_sent_back_with_it_added(
    browser: Any, tmp_path: Path, size: dict[str, int]
) -> None:
    async with room(tmp_path, [lot("oil", "Oil Painting")]) as r:
        relay = Relay(welcome_extra={"guest_token": "gt-bob"})
        bob = await relayed(browser, r, size, "bob", relay)
        await bob.page.goto(r.base_url + "/")
        await bob.page.fill("[data-testid=name-input]", "bob")
        await bob.page.press("[data-testid=name-input]", "Enter")
        await bob.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        assert "guest_token" not in relay.hellos[0]
        await relay.routes[-1].close(code=1012, reason="restart")  # a reconnect
        await bob.page.wait_for_selector("[data-testid=conn][data-state=reconnecting]")
        await bob.page.wait_for_selector("[data-testid=conn][data-state=live]")
        await bob.page.reload()  # and a new visit
        await bob.page.wait_for_selector("[data-testid=conn][data-state=live]")
        assert [h.get("guest_token") for h in relay.hellos] == [None, "gt-bob", "gt-bob"]
        # Another name is another guest: not this session's token.
        await bob.page.click("[data-testid=me]")
        await bob.page.fill("[data-testid=name-input]", "cy")
        await bob.page.press("[data-testid=name-input]", "Enter")
        await bob.wait("() => document.querySelector('#me-avatar').innerText === 'C'")
        await bob.page.wait_for_selector("[data-testid=conn][data-state=live]")
        assert relay.hellos[-1]["name"] == "cy" and "guest_token" not in relay.hellos[-1]
        assert not bob.problems, bob.problems
