"""Fixtures for the web side: the whole server (TCP and HTTP) in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from web_helpers import Ports, running_server


@pytest.fixture
async def live_server() -> AsyncIterator[Ports]:
    async with running_server() as ports:
        yield ports
