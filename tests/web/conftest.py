"""Fixtures for the web side: the whole server (TCP and HTTP) in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from web_helpers import CHROMIUM, CHROMIUM_ARGS, Ports, running_server


@pytest.fixture
async def live_server() -> AsyncIterator[Ports]:
    async with running_server() as ports:
        yield ports


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium through Playwright's async API (never ``playwright install``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            await launched.close()
