"""Accounts over the wire and in text mode; abuse limits; TLS."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import JsonClient, TextClient, write_catalog


def create_root_admin(tmp_path: Path) -> None:
    """The admin ``root`` (password "root password") in the store the server will use."""
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "bidwire",
            "admin",
            "create-user",
            "root",
            "--admin",
            "--store",
            f"sqlite:///{tmp_path / 'bidwire.db'}",
        ],
        env={"BIDWIRE_NEW_PASSWORD": "root password", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr


def catalog(tmp_path: Path) -> str:
    return write_catalog(tmp_path, [{"id": "w", "title": "Watch", "starting_price": 100}])


async def test_register_then_auth_with_the_token_on_a_new_connection(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory("--catalog", catalog(tmp_path), "--opening-seconds", "60")
    first = await JsonClient.connect(server.port)
    welcome = await first.request(
        {"type": "register", "id": "r", "username": "alice", "password": "wonderland!"}
    )
    assert (welcome["type"], welcome["user"], welcome["role"]) == ("welcome", "alice", "bidder")
    assert welcome["token"] and "wonderland" not in json.dumps(first.messages)
    second = await JsonClient.connect(server.port)
    again = await second.request({"type": "auth", "id": "a", "token": welcome["token"]})
    assert (again["type"], again["user"]) == ("welcome", "alice")
    placed = await second.request({"type": "bid", "id": "b", "lot": "w", "amount": 10_000})
    assert placed["type"] == "bid_accepted"
    seen = await first.wait_for(lambda m: m["type"] == "bid_placed")
    assert seen["bidder"] == "alice"
    impostor = await JsonClient.connect(server.port)
    refused = await impostor.request({"type": "hello", "id": "h", "name": "alice"})
    assert (refused["type"], refused["code"]) == ("error", "forbidden")
    wrong = await impostor.request(
        {"type": "login", "id": "l", "username": "alice", "password": "nope nope"}
    )
    assert wrong["code"] == "not_authenticated" and "nope" not in wrong["message"]
    bad = await impostor.request({"type": "auth", "id": "t", "token": "forged"})
    assert bad["code"] == "not_authenticated"
    for client in (first, second, impostor):
        await client.close()


async def test_a_blocked_users_token_is_refused(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory("--catalog", catalog(tmp_path), "--opening-seconds", "60")
    client = await JsonClient.connect(server.port)
    welcome = await client.request(
        {"type": "register", "id": 1, "username": "mallory", "password": "up to no good"}
    )
    blocked = subprocess.run(
        [sys.executable, "-m", "bidwire", "admin", "block", "mallory", "--store", server.store],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert blocked.returncode == 0, blocked.stderr
    other = await JsonClient.connect(server.port)
    refused = await other.request({"type": "auth", "id": 2, "token": welcome["token"]})
    assert refused["code"] in ("not_authenticated", "forbidden")
    await client.close()
    await other.close()


async def test_text_mode_login(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory("--catalog", catalog(tmp_path), "--opening-seconds", "60")
    setup = await JsonClient.connect(server.port)
    await setup.request({"type": "register", "id": 1, "username": "bob", "password": "builder99"})
    person = await TextClient.connect(server.port)
    await person.expect("Welcome")
    await person.say(b"login bob\n")
    await person.expect("Password for bob")
    await person.say(b"wrong-one\n")
    assert "[not_authenticated]" in await person.expect("Login failed")
    await person.say(b"login bob\nbuilder99\n")
    await person.expect(r"Welcome back, bob \(bidder\)")
    await person.say(b"150\n")
    assert "by bob" in await person.expect("New high bid")
    assert not any("builder99" in line for line in person.lines)
    await setup.close()


async def test_no_guests_means_accounts_only(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory(
        "--catalog", catalog(tmp_path), "--no-guests", "--auth-timeout-seconds", "1"
    )
    guest = await JsonClient.connect(server.port)
    refused = await guest.request({"type": "hello", "id": 1, "name": "drifter"})
    assert refused["code"] == "forbidden"
    bid = await guest.request({"type": "bid", "id": 2, "lot": "w", "amount": 10_000})
    assert bid["code"] == "not_authenticated"
    closing = await guest.wait_for(
        lambda m: m.get("code") == "not_authenticated" and "id" in m and m["id"] is None, timeout=5
    )
    assert "closing" in closing["message"]
    await asyncio.wait_for(guest._task, 5)
    person = await TextClient.connect(server.port)
    await person.expect("login NAME")
    await person.say(b"150\n")
    assert "[not_authenticated]" in await person.expect("Bid refused")


async def test_bids_are_rate_limited_per_user(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory("--catalog", catalog(tmp_path), "--bid-rate", "1", "--bid-burst", "3")
    client = await JsonClient.connect(server.port, "eager")
    codes = []
    for n in range(6):
        reply = await client.request({"type": "bid", "id": n, "lot": "w", "amount": 10_000 + n})
        codes.append(reply.get("code", "accepted"))
    assert codes[:3] == ["accepted", "already_leading", "already_leading"]
    assert codes[3:] == ["rate_limited"] * 3
    await client.close()


async def test_connections_per_address_are_capped(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory("--catalog", catalog(tmp_path), "--max-connections-per-address", "3")
    held = [await JsonClient.connect(server.port, f"c{i}") for i in range(3)]
    extra = await JsonClient.connect(server.port)
    refused = await extra.wait_for(lambda m: m["type"] == "error")
    assert refused["code"] == "rate_limited"
    await asyncio.wait_for(extra._task, 5)
    await held[0].close()
    await asyncio.sleep(0.2)
    again = await JsonClient.connect(server.port, "later")
    assert again.messages[0]["type"] == "welcome"
    for client in [*held[1:], again]:
        await client.close()


async def test_tcp_over_tls(server_factory: Any, tmp_path: Path, certificate: Any) -> None:
    cert, key = certificate
    server = server_factory("--catalog", catalog(tmp_path), "--tls-cert", cert, "--tls-key", key)
    context = ssl.create_default_context(cafile=cert)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=context)
    writer.write(b'{"type":"hello","name":"secure"}\n')
    line = await asyncio.wait_for(reader.readline(), 10)
    assert json.loads(line)["type"] == "welcome"
    writer.close()
    plain_reader, plain_writer = await asyncio.open_connection("127.0.0.1", server.port)
    plain_writer.write(b'{"type":"hello","name":"plain"}\n')
    assert await asyncio.wait_for(plain_reader.read(100), 10) == b""  # no TLS, no service
    plain_writer.close()


async def test_blocking_over_http_ends_live_connections(
    server_factory: Any, tmp_path: Path
) -> None:
    import httpx

    create_root_admin(tmp_path)
    server = server_factory("--catalog", catalog(tmp_path), "--opening-seconds", "60")
    http_port = server.http_port
    victim = await JsonClient.connect(server.port)
    await victim.request(
        {"type": "register", "id": 1, "username": "trent", "password": "trent's pw"}
    )
    guest = await JsonClient.connect(server.port, "trent-fan")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=10) as web:
        login = await web.post("/api/login", json={"username": "root", "password": "root password"})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        blocked = await web.post(
            "/api/admin/users/trent/block", headers={"Authorization": f"Bearer {token}"}
        )
        assert blocked.status_code == 200, blocked.text
    goodbye = await victim.wait_for(lambda m: m["type"] == "error")
    assert (goodbye["code"], goodbye["reason"]) == ("forbidden", "blocked")
    assert "blocked your account" in goodbye["message"]
    await asyncio.wait_for(victim._task, 5)
    pong = await guest.request({"type": "ping", "id": "p"})  # others are untouched
    assert pong["type"] == "pong"
    await guest.close()


async def test_an_anonymous_sale_over_the_wire_and_http(
    server_factory: Any, tmp_path: Path
) -> None:
    import httpx

    path = tmp_path / "quiet.json"
    path.write_text(
        json.dumps(
            {
                "sales": [
                    {
                        "title": "Quiet",
                        "anonymous": True,
                        "lots": [{"id": "q", "title": "Quiet lot", "starting_price": 100}],
                    }
                ]
            }
        )
    )
    create_root_admin(tmp_path)
    server = server_factory("--catalog", str(path), "--opening-seconds", "60")
    http_port = server.http_port
    admin = await JsonClient.connect(server.port)
    await admin.request({"type": "login", "id": 1, "username": "root", "password": "root password"})
    public = await JsonClient.connect(server.port, "onlooker")
    bidder = await JsonClient.connect(server.port, "zelda")
    assert (await bidder.request({"type": "bid", "id": 2, "lot": "q", "amount": 10_000}))[
        "type"
    ] == "bid_accepted"
    shown = await public.wait_for(lambda m: m["type"] == "bid_placed")
    real = await admin.wait_for(lambda m: m["type"] == "bid_placed")
    assert shown["bidder"].startswith("Bidder ") and real["bidder"] == "zelda"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=10) as web:
        history = (await web.get("/api/lots/q/bids")).json()
        assert [b["bidder"] for b in history["bids"]] == [shown["bidder"]]
        snapshot = (await web.get("/api/lots/q")).json()
        assert snapshot["high_bid"]["bidder"] == shown["bidder"]
        assert "zelda" not in (await web.get("/api/sales")).text
    for client in (admin, public, bidder):
        await client.close()
