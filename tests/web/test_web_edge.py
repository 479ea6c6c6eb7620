"""The edges of the wire on both transports: hostile nesting, seqs from nowhere."""

from __future__ import annotations

import json

import pytest
from web_helpers import Client, Ports, TcpJson, WsJson, hello, recv_until

pytestmark = pytest.mark.timeout(60)

LOT = "vintage-watch"
DEEP = 5_000


async def both(ports: Ports) -> list[Client]:
    return [await TcpJson.connect(ports.tcp), await WsJson.connect(ports.http)]


async def test_json_nested_5000_deep_is_bad_json_and_the_connection_stays(
    live_server: Ports,
) -> None:
    deep = '{"type":"ping","id":"deep","pad":' + "[" * DEEP + "]" * DEEP + "}"
    for client in await both(live_server):
        await hello(client, "nester")
        await client.send_raw(deep)
        reply, _ = await recv_until(client, "error")
        assert reply["code"] == "bad_json", (type(client), reply)
        assert "nested" in reply["message"]
        await client.send({"type": "ping", "id": "after"})
        pong, _ = await recv_until(client, "pong")
        assert pong["id"] == "after"
        await client.close()


async def test_resync_past_the_lots_latest_seq_is_answered(live_server: Ports) -> None:
    for client in await both(live_server):
        snapshots = await hello(client, "time-traveller")
        (snapshot,) = [s for s in snapshots if s["lot"] == LOT]
        latest = snapshot["seq"]
        ahead = {"type": "resync", "id": "ahead", "lot": LOT, "since_seq": latest + 100}
        await client.send(ahead)
        reply, _ = await recv_until(client, "error")
        assert (reply["id"], reply["code"]) == ("ahead", "bad_request"), reply
        assert f"seq {latest}" in reply["message"]
        # From the latest seq itself nothing is missing, and nothing is refused either.
        await client.send({"type": "resync", "id": "level", "lot": LOT, "since_seq": latest})
        await client.send({"type": "ping", "id": "after"})
        pong, between = await recv_until(client, "pong")
        assert pong["id"] == "after" and between == [], json.dumps(between)
        await client.close()
