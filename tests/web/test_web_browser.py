"""Two bidders in two browsers on one lot, through a server restart.

Drives Debian's chromium with Playwright's async API (never ``playwright install``). Skipped
only when chromium is missing and BIDWIRE_REQUIRE_SERVICES is not set; CI sets it and installs
chromium, so there a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import NEEDS_CHROMIUM, ROOT, ServerProcess

SCREENSHOT = ROOT / "docs" / "screenshot.png"
LOT = "vintage-watch"
EXTEND_SECONDS = 30
# While the server is down the browser itself logs each refused connection attempt; those are
# the reconnect loop working, not a fault of the page.
EXPECTED_WHILE_DOWN = re.compile(r"ERR_CONNECTION_REFUSED|WebSocket connection to .* failed")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    NEEDS_CHROMIUM,
]


@dataclass
class Bidder:
    name: str
    page: Any
    problems: list[str] = field(default_factory=list)
    while_down: list[str] = field(default_factory=list)
    server_down: bool = False

    def watch(self) -> None:
        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            text = f"{self.name}: console error: {message.text}"
            if self.server_down and EXPECTED_WHILE_DOWN.search(message.text):
                self.while_down.append(text)
            else:
                self.problems.append(text)

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"{self.name}: {exc}"))

    async def attr(self, selector: str, name: str) -> str:
        value = await self.page.get_attribute(selector, name)
        return value or ""

    async def text(self, selector: str) -> str:
        return str(await self.page.inner_text(selector))

    async def wait(self, script: str, arg: Any = None, timeout: float = 5.0) -> None:
        await self.page.wait_for_function(script, arg=arg, timeout=timeout * 1000)


async def join(browser: Any, base_url: str, name: str, viewport: dict[str, int]) -> Bidder:
    context = await browser.new_context(viewport=viewport, locale="en-US")
    bidder = Bidder(name, await context.new_page())
    bidder.watch()
    await bidder.page.goto(base_url + "/")
    # First visit: the page asks for a name (and keeps it in localStorage).
    await bidder.page.fill("[data-testid=name-input]", name)
    await bidder.page.press("[data-testid=name-input]", "Enter")
    await bidder.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
    await bidder.page.wait_for_selector("[data-testid=lot-title]:has-text('Vintage Watch')")
    assert await bidder.page.evaluate("localStorage.getItem('bidwire.name')") == name
    return bidder


def shown_seconds(text: str) -> float:
    """'0:27' or '0:09.4' or '1:02:03' -> seconds."""
    parts = [float(p) for p in text.strip().split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


async def server_lot(http: httpx.AsyncClient) -> dict[str, Any]:
    reply = await http.get(f"/api/lots/{LOT}")
    reply.raise_for_status()
    snapshot: dict[str, Any] = reply.json()
    return snapshot


async def assert_countdown_agrees(bidder: Bidder, ends_at: int) -> None:
    """The countdown on screen is the server's ends_at less the server's now, within 1 s."""
    for _ in range(3):
        before = time.time() * 1000
        text = await bidder.text("[data-testid=countdown]")
        after = time.time() * 1000
        expected = (ends_at - (before + after) / 2) / 1000
        if abs(shown_seconds(text) - expected) <= 1.0:
            assert await bidder.attr("[data-testid=countdown]", "data-ends-at") == str(ends_at)
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{bidder.name} shows {text!r}; the server's deadline is {expected:.1f}s")


async def place_bid(bidder: Bidder) -> int:
    """Bid the prefilled minimum; returns the amount once the server has accepted it."""
    amount = int(await bidder.attr("[data-testid=min]", "data-amount"))
    await bidder.page.click("[data-testid=bid-button]")
    await bidder.wait(
        "document.querySelector('[data-testid=feedback]').dataset.kind === 'ok'", timeout=5
    )
    assert "accepted" in (await bidder.text("[data-testid=feedback]")).lower()
    return amount


async def sees_price(bidder: Bidder, amount: int, within: float) -> None:
    await bidder.wait(
        "a => document.querySelector('[data-testid=price]').dataset.amount === String(a)",
        amount,
        timeout=within,
    )


async def test_two_bidders_through_a_restart(browser: Any, tmp_path: Path) -> None:
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'x.db'}",
        ["--demo", "--opening-seconds", "60", "--extend-seconds", str(EXTEND_SECONDS)],
    )
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            await two_bidders(browser, server, http, tmp_path)
    finally:
        server.stop()


async def two_bidders(
    browser: Any, server: ServerProcess, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    ann = await join(browser, server.base_url, "ann", {"width": 1280, "height": 900})
    bob = await join(browser, server.base_url, "bob", {"width": 390, "height": 844})

    # ann bids; bob sees the new price and the countdown reset to the new deadline within 1 s.
    first = await place_bid(ann)
    await sees_price(bob, first, within=1.0)
    snapshot = await server_lot(http)
    assert snapshot["high_bid"] == {"amount": first, "bidder": "ann"}
    await bob.wait(
        "e => document.querySelector('[data-testid=countdown]').dataset.endsAt === String(e)",
        snapshot["ends_at"],
        timeout=1.0,
    )
    assert "You are leading" in await ann.text("[data-testid=standing]")
    # a plain bid of hers would be refused (against herself): the form says a maximum is the way
    assert "You lead: a plain bid now would only bid against yourself" in await ann.text(
        "[data-testid=max-hint]"
    )
    assert "With a maximum, the house bids for you" in await bob.text("[data-testid=max-hint]")

    # bob outbids; ann is told, and her countdown jumps back up.
    await asyncio.sleep(1.5)  # let the clock run down a little, so the reset shows
    ann_left = int(await ann.attr("[data-testid=countdown]", "data-remaining-ms"))
    second = await place_bid(bob)
    assert second > first
    await ann.wait(
        "() => /outbid/i.test(document.querySelector('[data-testid=standing]').textContent)",
        timeout=1.0,
    )
    await sees_price(ann, second, within=1.0)
    assert "by bob" in await ann.text("[data-testid=leader]")
    assert "You are leading" in await bob.text("[data-testid=standing]")
    assert "With a maximum, the house bids for you" in await ann.text("[data-testid=max-hint]")
    assert int(await ann.attr("[data-testid=countdown]", "data-remaining-ms")) > ann_left
    snapshot = await server_lot(http)
    for bidder in (ann, bob):
        await assert_countdown_agrees(bidder, snapshot["ends_at"])
        history = await bidder.text("[data-testid=history]")
        assert "bob" in history and "ann" in history

    # Restart: SIGTERM, then the same store and the same ports. No page reloads.
    for bidder in (ann, bob):
        await bidder.page.evaluate("window.__sameDocument = true")
        bidder.server_down = True
    server.stop()
    for bidder in (ann, bob):
        await bidder.page.wait_for_selector(
            "[data-testid=conn]:not([data-state=live])", timeout=10_000
        )
    server.start()
    # A bid right after the restart, likely before the pages are back: they must catch up.
    snapshot = await server_lot(http)
    third = snapshot["min_amount"]
    reply = await http.post(f"/api/lots/{LOT}/bids", json={"amount": third, "bidder": "cy"})
    assert reply.status_code == 200, reply.text
    for bidder in (ann, bob):
        await bidder.page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=15_000)
        bidder.server_down = False
        assert await bidder.page.evaluate("window.__sameDocument === true")
        await sees_price(bidder, third, within=3.0)
        assert "by cy" in await bidder.text("[data-testid=leader]")
        assert "outbid" in (await bidder.text("[data-testid=standing]")).lower()

    snapshot = await server_lot(http)
    assert snapshot["high_bid"] == {"amount": third, "bidder": "cy"}
    for bidder in (ann, bob):
        await assert_countdown_agrees(bidder, snapshot["ends_at"])

    # And the reconnected pages bid as before.
    fourth = await place_bid(ann)
    await sees_price(bob, fourth, within=1.0)
    assert "You are leading" in await ann.text("[data-testid=standing]")

    # The README's picture, taken during the live sale. The committed one is kept unless asked
    # (BIDWIRE_SCREENSHOT=1), so running the tests does not churn a binary file.
    await sees_price(ann, fourth, within=1.0)
    await ann.page.wait_for_timeout(400)  # let the countdown's jump settle
    shot = SCREENSHOT if not SCREENSHOT.exists() or os.environ.get("BIDWIRE_SCREENSHOT") else None
    await ann.page.screenshot(path=str(shot or tmp_path / "screenshot.png"), full_page=True)
    print("while down:", ann.while_down + bob.while_down)

    problems = ann.problems + bob.problems
    assert not problems, "\n".join(problems)
