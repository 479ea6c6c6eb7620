"""Accounts over HTTP and the WebSocket: cookies, tokens, who may act as whom, Origin, TLS."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_helpers import ServerProcess, in_process, login, running_server

pytestmark = pytest.mark.timeout(60)

LOT = "vintage-watch"
PASSWORD = "correct horse battery"


def cookie_flags(reply: httpx.Response) -> str:
    (header,) = [v for k, v in reply.headers.multi_items() if k == "set-cookie"]
    return header


async def ws_connect(port: int, *, scheme: str = "ws", **options: Any) -> Any:
    from websockets.asyncio.client import connect

    return await asyncio.wait_for(
        connect(f"{scheme}://127.0.0.1:{port}/ws", compression=None, **options), 5
    )


async def first_message(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


async def test_register_login_me_logout() -> None:
    async with running_server() as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/api/me")).status_code == 401
            info = (await http.get("/api/info")).json()
            assert (info["guests"], info["accounts"]) == (True, True)

            reply = await http.post("/api/register", json={"username": "ada", "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert (body["user"], body["role"]) == ("ada", "bidder") and body["token"]
            assert PASSWORD not in reply.text
            flags = cookie_flags(reply).lower()
            assert flags.startswith(f"bidwire_token={body['token'].lower()}")
            assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
            assert "secure" not in flags  # plain HTTP here; the TLS test checks Secure

            # The cookie (kept by the client) and a bearer header both authenticate.
            assert (await http.get("/api/me")).json() == {"user": "ada", "role": "bidder"}
            bearer = {"authorization": f"Bearer {body['token']}"}
            async with httpx.AsyncClient(base_url=base, timeout=10) as api:
                assert (await api.get("/api/me", headers=bearer)).json()["user"] == "ada"
                bad = await api.get("/api/me", headers={"authorization": "Basic abc"})
                assert (bad.status_code, bad.json()["code"]) == (401, "not_authenticated")

            taken = await http.post("/api/register", json={"username": "ADA", "password": PASSWORD})
            assert (taken.status_code, taken.json()["code"]) == (422, "bad_request")
            assert "taken" in taken.json()["message"]
            for username, password, why in (
                ("a", PASSWORD, "3 to 32 characters"),
                ("x" * 10_000, PASSWORD, "3 to 32 characters"),
                ("<script>x</script>", PASSWORD, "3 to 32 characters"),
                ("'; DROP TABLE users;--", PASSWORD, "3 to 32 characters"),
                ("bell\u0007", PASSWORD, "3 to 32 characters"),
                ("grace", "short", "8 to 256 characters"),
                ("grace", "p" * 300, "8 to 256 characters"),
                ("grace", "tab\tinside it", "control characters"),
            ):
                refused = await http.post(
                    "/api/register", json={"username": username, "password": password}
                )
                assert refused.status_code == 422, (username[:20], refused.text)
                assert why in refused.json()["message"], refused.json()
                assert password not in refused.text

            logged_out = await http.post("/api/logout")
            assert logged_out.status_code == 200
            assert 'bidwire_token=""' in cookie_flags(logged_out) or "max-age=0" in (
                cookie_flags(logged_out).lower()
            )
            # The token itself is dead, not just the cookie forgotten.
            async with httpx.AsyncClient(base_url=base, timeout=10) as api:
                dead = await api.get("/api/me", headers=bearer)
                assert (dead.status_code, dead.json()["code"]) == (401, "not_authenticated")
                bid = await api.post(
                    f"/api/lots/{LOT}/bids", json={"amount": 10**6}, headers=bearer
                )
                assert bid.status_code == 401  # refused, not taken for a guest

            wrong = await http.post("/api/login", json={"username": "ada", "password": "nope nope"})
            assert (wrong.status_code, wrong.json()["code"]) == (401, "not_authenticated")
            again = await login(http, "ada", PASSWORD)
            assert again["token"] != body["token"]


async def test_login_is_throttled() -> None:
    async with in_process() as server, server.client() as http:
        codes = []
        for _ in range(12):
            reply = await http.post("/api/login", json={"username": "bea", "password": "wrong!!!"})
            codes.append(reply.status_code)
        assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
        # Even the right password waits out the minute.
        right = await http.post("/api/login", json={"username": "bea", "password": "bea-password"})
        assert (right.status_code, right.json()["code"]) == (429, "rate_limited")
        server.clock.advance(61_000)
        assert (await login(http, "bea", "bea-password"))["user"] == "bea"


async def test_a_bidder_cannot_bid_as_anyone_else() -> None:
    async with running_server() as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            await http.post("/api/register", json={"username": "ada", "password": PASSWORD})
            least = (await http.get(f"/api/lots/{LOT}")).json()["min_amount"]
            as_other = await http.post(
                f"/api/lots/{LOT}/bids", json={"amount": least, "bidder": "grace"}
            )
            assert (as_other.status_code, as_other.json()["code"]) == (403, "forbidden")
            mine = await http.post(f"/api/lots/{LOT}/bids", json={"amount": least})
            assert mine.status_code == 200, mine.text
            assert mine.json()["bidder"] == "ada"
            snapshot = (await http.get(f"/api/lots/{LOT}")).json()
            assert snapshot["high_bid"]["bidder"] == "ada"
            named = await http.post(
                f"/api/lots/{LOT}/bids", json={"amount": snapshot["min_amount"], "bidder": "ADA"}
            )
            assert (named.status_code, named.json()["code"]) == (409, "already_leading")
        # A guest cannot take a registered name either.
        async with httpx.AsyncClient(base_url=base, timeout=10) as guest:
            taken = await guest.post(
                f"/api/lots/{LOT}/bids", json={"amount": 10**6, "bidder": "ada"}
            )
            assert (taken.status_code, taken.json()["code"]) == (403, "forbidden")
            nameless = await guest.post(f"/api/lots/{LOT}/bids", json={"amount": 10**6})
            assert (nameless.status_code, nameless.json()["code"]) == (422, "bad_request")


async def test_no_guests_means_http_bids_need_a_login() -> None:
    async with running_server(guests=False) as ports:
        base = f"http://127.0.0.1:{ports.http}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/api/info")).json()["guests"] is False
            guest = await http.post(f"/api/lots/{LOT}/bids", json={"amount": 10**6, "bidder": "g"})
            assert (guest.status_code, guest.json()["code"]) == (401, "not_authenticated")
            await http.post("/api/register", json={"username": "ada", "password": PASSWORD})
            mine = await http.post(f"/api/lots/{LOT}/bids", json={"amount": 10**6})
            assert mine.status_code == 200, mine.text


async def test_the_websocket_checks_the_origin() -> None:
    from websockets.exceptions import InvalidStatus

    async with running_server() as ports:
        for origin in ("http://evil.example", f"http://localhost:{ports.http}", "null"):
            with pytest.raises(InvalidStatus) as refused:
                await ws_connect(ports.http, origin=origin)
            assert refused.value.response.status_code == 403, origin
        # The page's own origin, and clients that send none, are welcome.
        for welcome_origin in (f"http://127.0.0.1:{ports.http}", None):
            ws = await ws_connect(ports.http, origin=welcome_origin)
            await ws.send(json.dumps({"type": "hello", "name": "local"}))
            assert (await first_message(ws))["type"] == "welcome"
            await ws.close()


async def test_the_websocket_starts_as_the_cookies_user_and_refuses_a_dead_one() -> None:
    async with running_server(admin_password="admin-password") as ports:
        base = f"http://127.0.0.1:{ports.http}"
        origin = f"http://127.0.0.1:{ports.http}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            ada = (
                await http.post("/api/register", json={"username": "ada", "password": PASSWORD})
            ).json()
            cookie = {"cookie": f"bidwire_token={ada['token']}"}
            ws = await ws_connect(ports.http, origin=origin, additional_headers=cookie)
            welcome = await first_message(ws)
            assert (welcome["type"], welcome["user"], welcome["role"]) == (
                "welcome",
                "ada",
                "bidder",
            )
            await ws.send(json.dumps({"type": "bid", "id": "b", "lot": LOT, "amount": 10**6}))
            while (reply := await first_message(ws))["type"] != "bid_accepted":
                assert reply["type"] in ("snapshot", "bid_placed", "lot_opened"), reply
            await ws.close()

            # Logged out: the same cookie is refused, in words, and the connection is anonymous.
            await http.post("/api/logout")
            ws = await ws_connect(ports.http, origin=origin, additional_headers=cookie)
            refused = await first_message(ws)
            assert (refused["type"], refused["code"]) == ("error", "not_authenticated")
            await ws.send(json.dumps({"type": "bid", "id": "b", "lot": LOT, "amount": 2 * 10**6}))
            assert (await first_message(ws))["code"] == "not_authenticated"
            await ws.close()

            # Blocked by an admin: every token of the user dies, on HTTP and on the WebSocket.
            fresh = await login(http, "ada", PASSWORD)
            admin = await login(httpx.AsyncClient(base_url=base), "admin", "admin-password")
            blocked = await http.post(
                "/api/admin/users/ada/block",
                headers={"authorization": f"Bearer {admin['token']}"},
            )
            assert blocked.status_code == 200, blocked.text
            ws = await ws_connect(
                ports.http, additional_headers={"cookie": f"bidwire_token={fresh['token']}"}
            )
            assert (await first_message(ws))["code"] == "not_authenticated"
            await ws.close()
            assert (await http.get("/api/me")).status_code == 401


async def test_passwords_never_reach_the_output_the_store_or_a_reply(tmp_path: Path) -> None:
    secret = "Sw0rdfish-never-shown"
    store = tmp_path / "x.db"
    server = ServerProcess(f"sqlite:///{store}", ["--demo", "--opening-seconds", "60"])
    server.start()
    replies = []
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            for path, body in (
                ("/api/register", {"username": "ada", "password": secret}),
                ("/api/login", {"username": "ada", "password": secret}),
                ("/api/login", {"username": "ada", "password": secret + "x"}),
                ("/api/login", {"username": secret, "password": secret}),
                ("/api/register", {"username": "bob", "password": secret, "extra": 1}),
                ("/api/register", {"username": "bob", "password": [secret]}),
            ):
                reply = await http.post(path, json=body)
                replies.append(reply.text + str(reply.headers))
            replies.append((await http.get("/api/me")).text)
    finally:
        server.stop()
    assert not [r for r in replies if secret in r]
    assert secret not in "".join(server.output)
    for stored in tmp_path.iterdir():
        assert secret.encode() not in stored.read_bytes(), stored


async def test_https_and_wss_with_a_secure_cookie(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    async with running_server(tls_cert=cert, tls_key=key) as ports:
        base = f"https://127.0.0.1:{ports.http}"
        context = ssl.create_default_context(cafile=cert)
        async with httpx.AsyncClient(base_url=base, verify=context, timeout=10) as https:
            assert (await https.get("/healthz")).json()["status"] == "ok"
            reply = await https.post(
                "/api/register", json={"username": "ada", "password": PASSWORD}
            )
            assert reply.status_code == 200, reply.text
            flags = cookie_flags(reply).lower()
            assert "secure" in flags and "httponly" in flags
            ws = await ws_connect(
                ports.http,
                scheme="wss",
                ssl=context,
                origin=base,
                additional_headers={"cookie": f"bidwire_token={reply.json()['token']}"},
            )
            assert (await first_message(ws))["user"] == "ada"
            await ws.close()
        # Plain HTTP on the TLS port gets no service.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get("/healthz", timeout=5)
