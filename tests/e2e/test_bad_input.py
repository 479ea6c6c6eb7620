"""Bad input gets its code from protocol.md; the connection stays (except too_large), and
other clients never notice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.conftest import JsonClient, TextClient, write_catalog

CASES = [
    (b'{"type":"bid","lot":"w","amount":\n', "error", "bad_json"),
    (b'{"type":"levitate"}\n', "error", "unknown_type"),
    (b'{"lot":"w","amount":500}\n', "error", "bad_request"),
    (b'{"type":"bid","id":1,"lot":"w","amount":-5}\n', "bid_rejected", "bad_amount"),
    (b'{"type":"bid","id":2,"lot":"w","amount":12.5}\n', "bid_rejected", "bad_amount"),
    (b'{"type":"bid","id":3,"lot":"w","amount":"100"}\n', "bid_rejected", "bad_amount"),
    (
        b'{"type":"bid","id":4,"lot":"w","amount":10000000000000000000}\n',
        "bid_rejected",
        "bad_amount",
    ),
    (b'{"type":"bid","id":5,"lot":"nowhere","amount":50000}\n', "bid_rejected", "unknown_lot"),
    (b'{"type":"bid","id":6,"lot":"gone","amount":50000}\n', "bid_rejected", "lot_not_open"),
    (b'{"type":"subscribe","id":7,"lots":["nowhere"]}\n', "error", "unknown_lot"),
    (b'{"type":"resync","id":8,"lot":"w","since_seq":-1}\n', "error", "bad_request"),
    (b"\x00\x01\x02 binary \xff\n", "error", "bad_json"),
]


@pytest.fixture
async def server(server_factory: Any, tmp_path: Any) -> Any:
    catalog = write_catalog(
        tmp_path,
        [
            {"id": "w", "title": "Watch", "starting_price": 100},
            {"id": "gone", "title": "Gone", "starting_price": 100, "opening_seconds": 0.3},
        ],
        mode="timed",
    )
    return server_factory("--catalog", catalog, "--opening-seconds", "120")


async def test_each_bad_message_gets_its_code_and_the_line_stays_open(server: Any) -> None:
    bystander = await JsonClient.connect(server.port, "bystander")
    client = await JsonClient.connect(server.port, "mallory")
    await client.wait_for(lambda m: m["type"] == "lot_closed" and m["lot"] == "gone")
    for data, kind, code in CASES:
        mark = len(client.messages)
        await client.send(data)
        reply = await client.wait_for(lambda m: m["type"] in ("error", "bid_rejected"), start=mark)
        assert (reply["type"], reply["code"]) == (kind, code), (data, reply)
        assert reply["message"], "a person must be told why"
    pong = await client.request({"type": "ping", "id": "still-here"})
    assert pong["type"] == "pong"
    accepted = await client.request({"type": "bid", "id": "ok", "lot": "w", "amount": 10_000})
    assert accepted["type"] == "bid_accepted"
    seen = await bystander.wait_for(lambda m: m["type"] == "bid_placed")
    assert seen["amount"] == 10_000
    assert not any(m["type"] in ("error", "bid_rejected") for m in bystander.messages)
    await client.close()
    await bystander.close()


async def test_a_line_over_64_kib_is_too_large_and_closes(server: Any) -> None:
    bystander = await JsonClient.connect(server.port, "bystander")
    client = await JsonClient.connect(server.port, "big")
    await client.send(b'{"type":"ping","pad":"' + b"x" * (70 * 1024))
    reply = await client.wait_for(lambda m: m["type"] == "error")
    assert reply["code"] == "too_large"
    await asyncio.wait_for(client._task, 5)
    assert client.closed
    pong = await bystander.request({"type": "ping", "id": 1})
    assert pong["type"] == "pong"
    await bystander.close()


async def test_text_mode_garbage_and_bad_amounts_get_readable_refusals(server: Any) -> None:
    person = await TextClient.connect(server.port)
    await person.expect(r"Welcome")
    await asyncio.sleep(0.5)  # "gone" closes 0.3 s after the server starts
    await person.say(b"\xff\xfe\x80\x81 garbage\n")
    assert "[bad_request]" in await person.expect(r"not readable")
    await person.say(b"-5\n")
    assert "[bad_amount]" in await person.expect(r"Bid refused")
    await person.say(b"12.345\n")
    assert "[bad_amount]" in await person.expect(r"Bid refused")
    await person.say(b"99999999999999999999\n")
    assert "[bad_amount]" in await person.expect(r"Bid refused")
    await person.say(b"lot gone\n150\n")
    assert "[lot_not_open]" in await person.expect(r"Bid refused")
    await person.say(b"150\n")  # the next bid goes back to the lot on the block
    assert "Watch" in await person.expect(r"Bid accepted")
    await person.say(b"help\n")
    await person.expect(r"Commands:")
    await person.say(b"quit\n")
    await person.expect(r"Goodbye")
