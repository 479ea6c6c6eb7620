"""The ``nodes`` fixture: limits over every scheme (tests/limits/helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.limits.helpers import Nodes, nodes_over


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    async with nodes_over(request.param) as make:
        yield make
