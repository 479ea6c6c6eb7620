"""Hostile text in every field: refused with a clear message, or stored and shown verbatim, and
never run. Drives Debian's chromium like test_web_browser.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import NEEDS_CHROMIUM, login, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    NEEDS_CHROMIUM,
]

IMG = "<img src=x onerror=window.__pwned=1>"
SCRIPT = "<script>window.__pwned=1</script>"
SQL = "'; DROP TABLE lots;--"
LONG = "Z" * 9_990 + " the end."  # 10,000 characters
ATTR = '"><svg onload=window.__pwned=1>'
# Each lot: (title, description). All of these are stored and must show verbatim.
LOTS = [
    (IMG, LONG),
    (SCRIPT, SQL),
    (SQL, IMG),
    (ATTR, "two\nlines " + SCRIPT),
]


async def new_page(browser: Any, problems: list[str]) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    # A dialog (alert) would mean some script of ours ran.
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    return page


async def not_pwned(page: Any) -> None:
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert await page.evaluate("document.querySelectorAll('img[src=x], svg[onload]').length") == 0


async def test_hostile_text_is_shown_verbatim_and_never_runs(browser: Any, tmp_path: Path) -> None:
    async with running_server(
        store=f"sqlite:///{tmp_path / 'x.db'}",
        demo=False,
        admin_password="admin-password",
        opening_seconds=120,
    ) as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            admin = await login(http, "admin", "admin-password")
            auth = {"authorization": f"Bearer {admin['token']}"}
            http.cookies.clear()  # the admin acts by the bearer token; the rest is anonymous
            created = await http.post(
                "/api/admin/sales",
                headers=auth,
                json={
                    "title": SCRIPT,
                    "mode": "timed",
                    "lots": [
                        {"id": f"lot-{n}", "title": t, "description": d, "starting_price": 10}
                        for n, (t, d) in enumerate(LOTS)
                    ],
                },
            )
            assert created.status_code == 200, created.text
            sale = created.json()["sales"][0]["sale"]
            started = await http.post(f"/api/admin/sales/{sale}/start", headers=auth)
            assert started.status_code == 200, started.text
            # Stored verbatim: the API gives back exactly what was sent.
            for n, (title, description) in enumerate(LOTS):
                lot = (await http.get(f"/api/lots/lot-{n}")).json()
                assert (lot["title"], lot["description"]) == (title, description)
            assert (await http.get("/api/sales")).json()["sales"][0]["title"] == SCRIPT

            # Names: refused in words, on every way in.
            for name in (IMG, SCRIPT, SQL, "bell\u0007", "x" * 10_000):
                reply = await http.post(
                    "/api/register", json={"username": name, "password": "long enough"}
                )
                assert (reply.status_code, reply.json()["code"]) == (422, "bad_request")
                assert "a username is 3 to 32 characters" in reply.json()["message"]
                bid = await http.post(
                    "/api/lots/lot-0/bids", json={"amount": 10**6, "bidder": name}
                )
                assert bid.status_code == 422, bid.text
                assert "32" in bid.json()["message"], bid.json()
            await hello_is_refused(ports.http)

        problems: list[str] = []
        # The saleroom, as a guest: every hostile title is on the page as text.
        room = await new_page(browser, problems)
        await room.goto(base + "/")
        await room.fill("[data-testid=name-input]", "watcher")
        await room.press("[data-testid=name-input]", "Enter")
        await room.wait_for_selector("[data-testid=conn][data-state=live]", timeout=10_000)
        await room.wait_for_function(
            "t => document.body.innerText.includes(t)", arg=ATTR, timeout=10_000
        )
        text = await room.evaluate("document.body.innerText")
        for title, _ in LOTS:
            assert title in text, title[:40]
        assert SCRIPT in await room.inner_text("[data-testid=sale-title]")
        # Open each lot: its description is shown whole (the 10,000 characters too).
        for n, (title, description) in enumerate(LOTS):
            await room.click(f"button.sale-item[data-lot=lot-{n}]")
            assert await room.inner_text("[data-testid=lot-title]") == title
            shown = await room.evaluate("document.getElementById('lot-description').textContent")
            assert shown == description
        # A hostile username in the register form: the server's message, shown as text.
        await room.click("[data-testid=me]")
        await room.click("[data-testid=mode-register]")
        await room.fill("[data-testid=register-username]", IMG)
        await room.fill("[data-testid=register-password]", "long enough")
        await room.click("[data-testid=register-submit]")
        await room.wait_for_function(
            "() => document.querySelector('[data-testid=account-error]').textContent.length > 0"
        )
        assert "3 to 32 characters" in await room.inner_text("[data-testid=account-error]")
        await not_pwned(room)

        # The admin page: titles and descriptions in its tables, verbatim.
        desk = await new_page(browser, problems)
        await desk.goto(base + "/admin")
        await desk.fill("#login-username", "admin")
        await desk.fill("#login-password", "admin-password")
        await desk.click("[data-testid=login-submit]")
        await desk.wait_for_selector("[data-testid=sales] tr[data-lot=lot-3]", timeout=10_000)
        for n, (title, description) in enumerate(LOTS):
            row = desk.locator(f"tr[data-lot=lot-{n}]")
            assert await row.locator(".lot-title-cell").text_content() == title
            assert await row.locator(".lot-description-cell").text_content() == description
        assert SCRIPT in await desk.inner_text("[data-testid=sales]")
        await not_pwned(desk)
        await not_pwned(room)
        assert not problems, problems


async def hello_is_refused(port: int) -> None:
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws:
        for name in (IMG, SCRIPT, SQL, "bell\u0007", "x" * 10_000):
            await ws.send(json.dumps({"type": "hello", "id": "h", "name": name}))
            reply = json.loads(await ws.recv())
            assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
            assert "1 to 32 letters" in reply["message"]
