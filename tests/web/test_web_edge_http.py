"""The HTTP edge: cookies from other sites, bodies without a length, clients that stall."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from web_helpers import WsJson, hello, in_process, login, recv_until, running_server

from bidwire.transports.http import MAX_BODY_BYTES

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


async def chunked_post(port: int, path: str, headers: dict[str, str], chunks: list[bytes]) -> Any:
    """A request with Transfer-Encoding: chunked (no content-length) over a real socket; the
    body's last chunk is never sent, so only an answer given early can arrive."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ntransfer-encoding: chunked\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(head.encode() + b"\r\n")
        for chunk in chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        status_line, _, rest = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        length = int(re.search(rb"content-length: (\d+)", rest.lower())[1])  # type: ignore[index]
        body = await reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(body)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("path", "media"),
    [("/api/register", "application/json"), ("/api/admin/catalog?format=csv", "text/csv")],
)
async def test_a_chunked_body_over_the_limit_is_413_too_large(path: str, media: str) -> None:
    async with running_server(admin_password="admin-password") as ports:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http:
            token = (await login(http, "admin", "admin-password"))["token"]
        # Exactly the limit, then a few bytes more: all of it read by the time it is over.
        piece = 64 * 1024
        chunks = [b"x" * piece] * (MAX_BODY_BYTES // piece) + [b"y" * 10]
        headers = {"content-type": media, "authorization": f"Bearer {token}"}
        status, body = await asyncio.wait_for(chunked_post(ports.http, path, headers, chunks), 10)
        assert (status, body["code"]) == (413, "too_large"), body
        assert str(MAX_BODY_BYTES) in body["message"]


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes the connection."""
    return await asyncio.wait_for(reader.read(), 10)


async def test_a_request_whose_headers_stall_is_timed_out() -> None:
    async with running_server(header_timeout_seconds=0.3) as ports:
        ws = await WsJson.connect(ports.http)  # upgraded before any deadline could fire
        await hello(ws, "patient")
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", ports.http)
        stalled_reader, stalled = await asyncio.open_connection("127.0.0.1", ports.http)
        stalled.write(b"GET /api/info HTTP/1.1\r\n")
        answer = await read_all(stalled_reader)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "timeout"
        assert await read_all(silent_reader) == b""  # closed without a word
        # A kept-alive connection whose next request stalls is timed out too.
        kept_reader, kept = await asyncio.open_connection("127.0.0.1", ports.http)
        kept.write(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await kept_reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        await kept_reader.readuntil(b"}")
        kept.write(b"GET /healthz HTTP/1.1\r\n")
        assert (await read_all(kept_reader)).startswith(b"HTTP/1.1 408 ")
        # The WebSocket, past every deadline, is untouched.
        await ws.send({"type": "ping", "id": "still"})
        pong, _ = await recv_until(ws, "pong")
        assert pong["id"] == "still"
        await ws.close()
        for writer in (silent, stalled, kept):
            writer.close()
