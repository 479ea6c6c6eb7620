"""The web page reads an amount as the server does (domain/money.py: parse_units): the same
amounts, the same refusals. Money is never guessed: "250,00" and "1e3" are refused by both."""

from __future__ import annotations

from typing import Any

import pytest
from web_helpers import NEEDS_CHROMIUM, running_server

from bidwire.domain.money import parse_units

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), NEEDS_CHROMIUM]

TYPED = [
    "150",
    "150.50",
    "1,250.00",
    "12,345,678",
    ".5",
    "250,00",
    "60,5",
    "1,2345",
    "12,50.00",
    "1e3",
    "2E2",
    "1.001",
    "abc",
]


def server_reads(text: str) -> int | None:
    try:
        return parse_units(text, "USD")
    except ValueError:
        return None


async def test_the_page_and_the_server_read_every_amount_alike(browser: Any) -> None:
    async with running_server() as ports:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"http://127.0.0.1:{ports.http}/")
        read = await page.evaluate(
            """async (typed) => {
                const { parseAmount } = await import("/static/money.js");
                return typed.map((t) => { try { return parseAmount(t, "USD"); }
                                          catch (e) { return null; } });
            }""",
            TYPED,
        )
    assert dict(zip(TYPED, read, strict=True)) == {t: server_reads(t) for t in TYPED}
    assert server_reads("250,00") is None and server_reads("1,250.00") == 125_000
