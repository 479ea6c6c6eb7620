"""A TCP client that keeps asking and never reads is cut off; its replies cannot fill memory."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import JsonClient, write_catalog

CUT_OFF_WITHIN = 15.0
"""Seconds the server may take to close the flooder (before the fix: never)."""
RSS_GROWTH_LIMIT_KIB = 64 * 1024
"""What the flood may add to the server's memory: a bounded buffer, not the whole backlog."""
RESYNC = b'{"type":"resync","lot":"w","since_seq":0}\n' * 100


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc status")


def flood(port: int, pid: int) -> tuple[float | None, int]:
    """Ask for resyncs without reading until the server hangs up. Returns the seconds that
    took (None if it never did) and the server's highest RSS meanwhile."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(0.5)
    sock.sendall(b'{"type":"hello","name":"flooder"}\n')
    started = time.monotonic()
    peak = baseline = rss_kib(pid)
    try:
        while time.monotonic() - started < CUT_OFF_WITHIN:
            try:
                sock.sendall(RESYNC)
            except TimeoutError:
                pass  # the server stopped reading us for a moment (inbound backpressure)
            except OSError:  # reset or broken pipe: the server closed us
                return time.monotonic() - started, max(peak, rss_kib(pid))
            peak = max(peak, rss_kib(pid))
            if peak > baseline + RSS_GROWTH_LIMIT_KIB:
                break  # failed already: spare the machine the rest of the flood
        return None, peak
    finally:
        sock.close()


def bid_of(amount: int) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "bid_placed" and m["amount"] == amount


@pytest.mark.timeout(60)
async def test_a_client_flooding_resyncs_without_reading_is_closed(
    server_factory: Any, tmp_path: Path
) -> None:
    catalog = write_catalog(
        tmp_path,
        [
            {
                "id": "w",
                "title": "W",
                "description": "x" * 4_000,
                "starting_price": 1,
                "increment": 0.01,
            }
        ],
    )
    server = server_factory(
        "--catalog", catalog, "--opening-seconds", "120", "--bid-rate", "1e6", "--bid-burst", "1000"
    )
    assert server.proc is not None
    pid = server.proc.pid
    watcher = await JsonClient.connect(server.port, "watcher")
    # the server listens before its sale's first lot opens: bid once the watcher sees it open
    await watcher.wait_for(
        lambda m: (
            m.get("lot") == "w"
            and (m["type"] == "lot_opened" or (m["type"] == "snapshot" and m["state"] == "open"))
        )
    )
    bidders = [await JsonClient.connect(server.port, f"bidder{n}") for n in range(2)]
    baseline = rss_kib(pid)

    flooding = asyncio.create_task(asyncio.to_thread(flood, server.port, pid))
    amount = 100
    bids = 0
    while not flooding.done():  # others keep bidding and watching throughout
        amount += 1
        bids += 1
        reply = await bidders[bids % 2].request(
            {"type": "bid", "id": amount, "lot": "w", "amount": amount}
        )
        assert reply["type"] == "bid_accepted", reply
        await watcher.wait_for(bid_of(amount))
    took, peak = await flooding

    assert took is not None, f"the flooder was not closed within {CUT_OFF_WITHIN:g} s"
    assert peak - baseline < RSS_GROWTH_LIMIT_KIB, f"RSS grew {peak - baseline} KiB"
    amount += 1
    bids += 1
    reply = await bidders[bids % 2].request(
        {"type": "bid", "id": "last", "lot": "w", "amount": amount}
    )
    assert reply["type"] == "bid_accepted", reply
    await watcher.wait_for(bid_of(amount))
    for client in (watcher, *bidders):
        await client.close()
