"""The web client's accounts: register, log in, the role shown, log out, no guests."""

from __future__ import annotations

from typing import Any

import pytest
from web_helpers import NEEDS_CHROMIUM, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    NEEDS_CHROMIUM,
]


async def open_page(browser: Any, url: str, problems: list[str]) -> Any:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await page.goto(url)
    return page


async def test_register_log_out_and_log_in_from_the_page(browser: Any) -> None:
    async with running_server(admin_password="admin-password") as ports:
        base = f"http://127.0.0.1:{ports.http}"
        problems: list[str] = []
        page = await open_page(browser, base + "/", problems)
        # Keyboard only: the dialog's buttons and fields are reachable and usable.
        await page.wait_for_selector("[data-testid=mode-register]")
        await page.focus("[data-testid=mode-register]")
        await page.keyboard.press("Enter")
        await page.fill("[data-testid=register-username]", "ada")
        await page.fill("[data-testid=register-password]", "short")
        await page.press("[data-testid=register-password]", "Enter")
        await page.wait_for_function(
            "() => /8 to 256/.test(document.querySelector('[data-testid=account-error]')"
            ".textContent)"
        )
        await page.fill("[data-testid=register-password]", "long enough password")
        await page.press("[data-testid=register-password]", "Enter")
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        assert await page.inner_text("[data-testid=me-name]") == "ada"
        assert await page.inner_text("[data-testid=me-role]") == "bidder"
        assert await page.is_hidden("[data-testid=admin-link]")
        # The token is in an HttpOnly cookie: the page's script cannot read it.
        assert "bidwire_token" not in await page.evaluate("document.cookie")
        cookies = await page.context.cookies()
        (token,) = [c for c in cookies if c["name"] == "bidwire_token"]
        assert token["httpOnly"] and token["sameSite"] == "Strict"

        # A reload keeps the login (the cookie), with no dialog.
        await page.reload()
        await page.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        assert await page.inner_text("[data-testid=me-name]") == "ada"

        await page.click("[data-testid=logout]")
        await page.wait_for_selector("[data-testid=mode-login]", state="visible")
        assert not [c for c in await page.context.cookies() if c["name"] == "bidwire_token"]

        # Log in as the admin: the role and the admin link show.
        await page.click("[data-testid=mode-login]")
        await page.fill("[data-testid=login-username]", "admin")
        await page.fill("[data-testid=login-password]", "wrong password")
        await page.click("[data-testid=login-submit]")
        await page.wait_for_function(
            "() => /wrong username or password/.test("
            "document.querySelector('[data-testid=account-error]').textContent)"
        )
        await page.fill("[data-testid=login-password]", "admin-password")
        await page.click("[data-testid=login-submit]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=me-role]').textContent === 'admin'",
            timeout=10_000,
        )
        assert await page.is_visible("[data-testid=admin-link]")
        # The short password (422) and the wrong one (401) were refused, and the browser logs
        # each refusal; nothing else may fail.
        assert len(problems) == 2 and "422" in problems[0] and "401" in problems[1], problems


async def test_without_guests_the_page_offers_only_accounts(browser: Any) -> None:
    async with running_server(guests=False) as ports:
        problems: list[str] = []
        page = await open_page(browser, f"http://127.0.0.1:{ports.http}/", problems)
        await page.wait_for_selector("[data-testid=login-username]", state="visible")
        assert await page.is_hidden("[data-testid=mode-guest]")
        assert await page.is_hidden("[data-testid=name-input]")
        assert not problems, problems
