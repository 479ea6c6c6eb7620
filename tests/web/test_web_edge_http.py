"""The HTTP edge: cookies from other sites, bodies without a length, clients that stall."""

from __future__ import annotations

import pytest
from web_helpers import in_process

pytestmark = pytest.mark.timeout(30)


async def test_logout_from_a_foreign_origin_is_refused_and_keeps_the_token() -> None:
    async with in_process() as server, server.client(server.bidder_token, cookie=True) as browser:
        forged = await browser.post("/api/logout", headers={"origin": "http://evil.example"})
        assert forged.status_code == 403, forged.text
        assert forged.json()["code"] == "forbidden"
        assert "set-cookie" not in forged.headers  # the cookie is not cleared either
        still = await browser.get("/api/me")
        assert (still.status_code, still.json()["user"]) == (200, "bea")
        # From the page itself, logging out works and the token is dead.
        own = await browser.post("/api/logout", headers={"origin": "http://testserver"})
        assert own.status_code == 200, own.text
        async with server.client(server.bidder_token, cookie=True) as again:
            gone = await again.get("/api/me")
        assert gone.status_code == 401, gone.text
