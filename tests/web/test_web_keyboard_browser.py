"""Bidding with the keyboard alone, at desktop and phone sizes, with no console error (issue 12).

No click and no ``fill``: the name is typed into the dialog, Tab reaches the bid box, the
amount is typed and Enter places the bid; this one is far above the minimum, so the page asks
first (the browser's confirm, answered yes) and the bid stands.
"""

from __future__ import annotations

from typing import Any

import pytest
from web_helpers import NEEDS_CHROMIUM, running_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
MAX_TABS = 40
"""Tab presses allowed to reach the bid box: a bound, so a lost focus fails instead of hanging."""


async def tab_to(page: Any, element_id: str) -> None:
    for _ in range(MAX_TABS):
        if await page.evaluate("() => document.activeElement?.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


@pytest.mark.parametrize("size", SIZES)
async def test_a_bid_placed_with_the_keyboard_alone(browser: Any, size: str) -> None:
    async with running_server() as ports:
        context = await browser.new_context(viewport=SIZES[size])
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        dialogs: list[str] = []

        async def answer(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", answer)
        await page.goto(f"http://127.0.0.1:{ports.http}/")
        await page.wait_for_selector("[data-testid=name-input]", state="visible")
        await page.keyboard.type("kim")  # the name box has the focus when the dialog opens
        await page.keyboard.press("Enter")
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        await page.wait_for_function(
            "() => !document.querySelector('[data-testid=bid-button]').disabled"
        )

        await tab_to(page, "bid-amount")
        await page.keyboard.press("Control+A")
        await page.keyboard.type("2000")
        await page.keyboard.press("Enter")
        await page.wait_for_function(
            "() => /2,000\\.00/.test(document.querySelector('[data-testid=price]').textContent)"
            " && /leading/i.test(document.querySelector('[data-testid=standing]').textContent)",
            timeout=10_000,
        )
        assert len(dialogs) == 1 and "$2,000.00" in dialogs[0], dialogs
        assert "times the minimum" in dialogs[0]
        assert not problems, problems
        await context.close()
