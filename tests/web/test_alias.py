"""Defect 3 (issue 12): in an anonymous sale each bidder learns their own pseudonym, and only
they do: an ``alias`` message to that connection alone (after the welcome's snapshots, right
after an anonymous sale's ``sale_started``, again when a login changes who it is), and
``bidder`` in their ``bid_accepted`` and HTTP answers. Nobody else's bytes pair a pseudonym
with the name behind it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import Client, TcpJson, WsJson, running_server

pytestmark = pytest.mark.timeout(60)
ADMIN_PASSWORD = "admin-password-1"
CATALOG: dict[str, Any] = {
    "sales": [
        {"title": "Open", "lots": [{"id": "o", "title": "Open lot", "starting_price": 100}]},
        {
            "title": "Quiet",
            "anonymous": True,
            "mode": "timed",
            "lots": [{"id": "q", "title": "Quiet lot", "starting_price": 100}],
        },
    ]
}


def anonymous_server(tmp_path: Path) -> Any:
    path = tmp_path / "sales.json"
    path.write_text(json.dumps(CATALOG))
    return running_server(demo=False, catalog=str(path), admin_password=ADMIN_PASSWORD)


class Raw:
    """A connection whose every message is kept as the bytes it came in."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.raw: list[str] = []

    @classmethod
    async def hello(cls, client: Client, name: str) -> tuple[Raw, dict[str, Any]]:
        self = cls(client)
        await client.send({"type": "hello", "name": name})
        welcome = await self.until(lambda m: m["type"] == "welcome")
        return self, welcome

    async def until(self, wanted: Any) -> dict[str, Any]:
        while True:
            raw = await self.client.recv_raw()
            assert raw is not None, "closed"
            self.raw.append(raw)
            message: dict[str, Any] = json.loads(raw)
            if wanted(message):
                return message

    async def synced(self) -> list[dict[str, Any]]:
        """Everything up to a pong: the server has sent what it had for us before it."""
        await self.client.send({"type": "ping", "id": "sync"})
        start = len(self.raw)
        await self.until(lambda m: m["type"] == "pong" and m.get("id") == "sync")
        return [json.loads(raw) for raw in self.raw[start:-1]]

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.raw]


def aliases(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "alias"]


async def connect(transport: str, ports: Any) -> Client:
    return await (TcpJson.connect(ports.tcp) if transport == "tcp" else WsJson.connect(ports.http))


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_only_the_bidder_learns_their_pseudonym(transport: str, tmp_path: Path) -> None:
    async with (
        anonymous_server(tmp_path) as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        zelda, _ = await Raw.hello(await connect(transport, ports), "zelda")
        told = aliases(await zelda.synced())
        # the anonymous sale only, after the welcome's snapshots
        assert [(m["type"], m["sale"]) for m in told] == [("alias", "quiet")]
        alias = told[0]["bidder"]
        assert alias.startswith("Bidder ") and "zelda" not in alias
        snapshots = [i for i, m in enumerate(zelda.messages()) if m["type"] == "snapshot"]
        first_alias = next(i for i, m in enumerate(zelda.messages()) if m["type"] == "alias")
        assert snapshots and max(snapshots) < first_alias

        others = [
            (await Raw.hello(await TcpJson.connect(ports.tcp), "onlooker"))[0],
            (await Raw.hello(await WsJson.connect(ports.http), "watcher"))[0],
        ]
        for other in others:
            await other.synced()

        await zelda.client.send({"type": "bid", "id": "b", "lot": "q", "amount": 10_000})
        accepted = await zelda.until(lambda m: m.get("id") == "b")
        assert accepted["type"] == "bid_accepted"
        assert accepted["bidder"] == alias  # how the public sees this bid: as zelda's alias
        await zelda.client.send({"type": "bid", "id": "p", "lot": "o", "amount": 10_000})
        plain = await zelda.until(lambda m: m.get("id") == "p")
        assert plain["bidder"] == "zelda"  # not anonymous: the name

        for other in others:
            placed = await other.until(lambda m: m["type"] == "bid_placed" and m["lot"] == "q")
            assert placed["bidder"] == alias  # the public sees the alias...
            await other.until(lambda m: m["type"] == "bid_placed" and m["lot"] == "o")
            await other.synced()
            # ...and never the name beside it, nor an alias message that is not its own
            assert not any("zelda" in raw and alias in raw for raw in other.raw)
            assert not any(alias in raw for raw in other.raw if "zelda" in raw)
            theirs = aliases(other.messages())
            assert len(theirs) == 1 and theirs[0]["bidder"] != alias

        # an HTTP guest's answer names it as the public sees it, too
        reply = await http.post("/api/lots/q/bids", json={"amount": 20_000, "bidder": "hugo"})
        assert reply.status_code == 200, reply.text
        seen = await others[0].until(lambda m: m["type"] == "bid_placed" and m["amount"] == 20_000)
        assert reply.json()["bidder"] == seen["bidder"] != "hugo"
        for raw in (zelda, *others):
            await raw.client.close()


async def test_alias_follows_sale_started_and_login(tmp_path: Path) -> None:
    lots = [{"id": "l", "title": "Later lot", "starting_price": 100}]
    later = {"sales": [{"title": "Later", "anonymous": True, "mode": "timed", "lots": lots}]}
    async with (
        anonymous_server(tmp_path) as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}", timeout=10) as admin,
    ):
        reply = await admin.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert reply.status_code == 200
        async with httpx.AsyncClient(base_url=admin.base_url) as http:  # its own cookies
            reply = await http.post(
                "/api/register", json={"username": "maxine", "password": "pw-1234567"}
            )
            assert reply.status_code == 200
        imported = await admin.post(
            "/api/admin/catalog?format=json",
            content=json.dumps(later),
            headers={"content-type": "application/json"},
        )
        assert imported.status_code == 200, imported.text
        sale_id = imported.json()["sales"][0]["sale"]

        guest, _ = await Raw.hello(await TcpJson.connect(ports.tcp), "max")
        assert [m["sale"] for m in aliases(await guest.synced())] == ["quiet"]  # held: not yet
        browser, _ = await Raw.hello(await WsJson.connect(ports.http), "wendy")
        await browser.synced()
        reader, writer = await asyncio.open_connection("127.0.0.1", ports.tcp)

        async def line(starts: str) -> str:
            while True:
                text = (await asyncio.wait_for(reader.readline(), 5)).decode()
                assert text, f"closed while waiting for {starts!r}"
                if text.startswith(starts):
                    return text.strip()

        greeting = await line("In Quiet (an anonymous sale) the others see you as Bidder ")
        assert greeting.endswith(".")

        assert (await admin.post(f"/api/admin/sales/{sale_id}/start")).status_code == 200
        for raw in (guest, browser):
            await raw.until(lambda m: m["type"] == "sale_started" and m["sale"] == sale_id)
            told = await raw.until(lambda m: m["type"] in ("alias", "lot_opened", "snapshot"))
            if told["type"] != "alias":  # the sale's first lot may open in the same turn
                told = await raw.until(lambda m: m["type"] == "alias")
            assert told["sale"] == sale_id
        assert (await line("In Later (an anonymous sale)")).startswith(
            "In Later (an anonymous sale) the others see you as Bidder "
        )

        before = {m["sale"]: m["bidder"] for m in aliases(guest.messages())}
        await guest.client.send({"type": "login", "username": "maxine", "password": "pw-1234567"})
        await guest.until(lambda m: m["type"] == "welcome" and m["user"] == "maxine")
        after = {m["sale"]: m["bidder"] for m in aliases(await guest.synced())}
        assert set(after) == {"quiet", sale_id}
        assert all(after[sale] != before[sale] for sale in after)  # maxine's, not max's
        await guest.client.send({"type": "bid", "id": "m", "lot": "q", "amount": 10_000})
        accepted = await guest.until(lambda m: m.get("id") == "m")
        assert accepted["bidder"] == after["quiet"]
        placed = await browser.until(lambda m: m["type"] == "bid_placed" and m["lot"] == "q")
        assert placed["bidder"] == after["quiet"]
        await guest.client.close()
        await browser.client.close()
        writer.close()
