"""Our faults reach HTTP clients as JSON with their wire code, never as a plain-text 500."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from tests.engine.test_house import house_and_feed
from web_helpers import FAST_HASH

from bidwire.accounts.service import Accounts
from bidwire.clock import FakeClock
from bidwire.engine.gate import Gate
from bidwire.errors import BadRequest, StoreUnavailable
from bidwire.store.sqlite import SqliteStore
from bidwire.transports.http import create_app
from bidwire.transports.session import SessionContext

pytestmark = pytest.mark.timeout(30)

SALE = {"title": "Spring sale", "mode": "timed", "lots": [{"title": "Lamp", "starting_price": 10}]}


@dataclass
class Served:
    store: SqliteStore
    app: Any
    admin_token: str

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        # Unhandled exceptions become the 500 a real server sends, not an error in the test.
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


@contextlib.asynccontextmanager
async def on_sqlite(tmp_path: Path) -> AsyncIterator[Served]:
    clock = FakeClock(int(time.time() * 1000))
    async with SqliteStore(str(tmp_path / "bidwire.db"), synchronous="NORMAL") as store:
        house, feed = house_and_feed(store, clock)
        accounts = Accounts(store, clock, PasswordHasher(**FAST_HASH))
        await accounts.create_user("root", "root-password", "admin")
        admin = await accounts.login("root", "root-password", "test")
        ctx = SessionContext(house, feed, clock, Gate(clock, accounts))
        try:
            yield Served(store, create_app(ctx), admin.token)
        finally:
            await house.stop()
            feed.close()


async def stop_writes(store: SqliteStore) -> None:
    """From now on every commit fails inside SQLite itself ("attempt to write a readonly
    database"), as on a full or read-only disk; reads still work."""

    def read_only(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA query_only = ON")

    # the pragma holds for the connection at once; batched with a write (a lot opening), its
    # own commit fails too
    with contextlib.suppress(StoreUnavailable):
        await store._submit(read_only)


def assert_unavailable(reply: httpx.Response) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["code"] == "unavailable" and body["message"], body


async def test_a_store_that_cannot_commit_is_503_unavailable_everywhere(tmp_path: Path) -> None:
    async with (
        on_sqlite(tmp_path) as served,
        served.client(served.admin_token) as admin,
        served.client() as anyone,
    ):
        created = await admin.post("/api/admin/sales", json=SALE)
        assert created.status_code == 200, created.text
        started = await admin.post("/api/admin/sales/spring-sale/start")
        assert started.status_code == 200, started.text
        await stop_writes(served.store)

        register = await anyone.post(
            "/api/register", json={"username": "bea", "password": "bea-password"}
        )
        assert_unavailable(register)
        login = await anyone.post(
            "/api/login", json={"username": "root", "password": "root-password"}
        )
        assert_unavailable(login)
        assert_unavailable(await admin.post("/api/admin/sales", json=SALE))
        assert_unavailable(await admin.post("/api/admin/sales/spring-sale/pause"))


async def test_adding_a_sale_fails_with_errors_from_the_tree(tmp_path: Path) -> None:
    async with on_sqlite(tmp_path) as served:
        async with served.client(served.admin_token) as admin:
            assert (await admin.post("/api/admin/sales", json=SALE)).status_code == 200
        house = served.app.state.ctx.house
        sale = house.sales["spring-sale"].spec
        lots = [house.lots[lot_id].spec for lot_id in sale.lot_ids]
        with pytest.raises(BadRequest):  # a taken id is the client's fault
            await served.store.add_sale(sale, lots)
        await stop_writes(served.store)
        other_lot = dataclasses.replace(lots[0], id="other-lamp")
        other = dataclasses.replace(sale, id="other", lot_ids=(other_lot.id,))
        with pytest.raises(StoreUnavailable):  # a failed commit is ours
            await served.store.add_sale(other, [other_lot])
