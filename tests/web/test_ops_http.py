"""Operating a node over HTTP: /metrics counts what real clients did over TCP and the
WebSocket, /readyz says when the node should get no clients and why, /healthz stays alive."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from web_helpers import TcpJson, WsJson, hello, in_process, recv_until, running_server

LOT = "vintage-watch"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient) -> tuple[Samples, dict[str, str]]:
    """Every sample of /metrics by name and labels, and each family's type: parsed with
    prometheus_client's own parser, so a line it cannot read fails the test."""
    reply = await http.get("/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=")
    families = list(text_string_to_metric_families(reply.text))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return samples, {f.name: f.type for f in families}


def code(name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("bidwire_bids_refused_total", (("code", name),))


def transport(name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("bidwire_connections", (("transport", name),))


async def test_metrics_count_real_bids_and_refusals_over_tcp_the_websocket_and_http() -> None:
    async with (
        running_server(node_name="node-a") as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}", timeout=10) as http,
    ):
        before, types = await scrape(http)
        assert types["bidwire_commit_latency_seconds"] == "histogram"
        assert types["bidwire_fanout_latency_seconds"] == "histogram"
        assert types["bidwire_bids_refused"] == "counter"
        assert before[("bidwire_node_info", (("node", "node-a"),))] == 1
        assert before[code("too_low")] == 0  # every refusal code is there from the start

        tcp = await TcpJson.connect(ports.tcp)
        ws = await WsJson.connect(ports.http)
        snapshots = await hello(tcp, "tess")
        await hello(ws, "walt")
        (lot,) = [s for s in snapshots if s["lot"] == LOT]
        least = lot["min_amount"]

        await tcp.send({"type": "bid", "id": "t1", "lot": LOT, "amount": least})
        await recv_until(tcp, "bid_accepted")
        await ws.send({"type": "bid", "id": "w1", "lot": LOT, "amount": least})  # now too low
        low, _ = await recv_until(ws, "bid_rejected")
        await ws.send({"type": "bid", "id": "w2", "lot": LOT, "amount": least + 10_000})
        await recv_until(ws, "bid_accepted")  # sent only after its bid_placed went to everyone
        await tcp.send({"type": "bid", "id": "t2", "lot": "no-such-lot", "amount": 100})
        unknown, _ = await recv_until(tcp, "bid_rejected")
        assert (low["code"], unknown["code"]) == ("too_low", "unknown_lot")
        over_http = await http.post(f"/api/lots/{LOT}/bids", json={"amount": 1, "bidder": "hugo"})
        assert (over_http.status_code, over_http.json()["code"]) == (409, "too_low")

        after, _ = await scrape(http)
        assert (
            after[("bidwire_bids_accepted_total", ())] - before[("bidwire_bids_accepted_total", ())]
            == 2
        )
        assert after[code("too_low")] - before[code("too_low")] == 2  # the wire's and HTTP's
        assert after[code("unknown_lot")] - before[code("unknown_lot")] == 1
        assert after[transport("tcp")] == 1
        assert after[transport("ws")] == 1
        assert after[transport("http")] >= 1  # this scrape's own connection
        commits = "bidwire_commit_latency_seconds_count", ()
        fanned = "bidwire_fanout_latency_seconds_count", ()
        assert after[commits] - before[commits] >= 2
        assert after[fanned] - before[fanned] >= 2
        assert (
            after[("bidwire_commit_latency_seconds_bucket", (("le", "+Inf"),))] == (after[commits])
        )
        assert after[("bidwire_events_delivered_total", ())] > 0
        assert after[("bidwire_store_queue_depth", ())] == 0
        assert after[("bidwire_bus_lag_seconds_count", ())] == 0  # memory://
        assert after[("bidwire_ready", ())] == 1

        await tcp.close()
        await ws.close()
        for _ in range(100):  # until the server has noticed both connections closed
            gone, _ = await scrape(http)
            if gone[transport("tcp")] == gone[transport("ws")] == 0:
                break
            await asyncio.sleep(0.05)
        assert gone[transport("tcp")] == gone[transport("ws")] == 0


async def test_readyz_says_503_while_the_store_cannot_commit_and_200_once_it_can() -> None:
    async with in_process() as server, server.client() as http:
        store: Any = server.ctx.house.store
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"

        store.fail_appends = True
        failing = await http.get("/readyz")
        assert failing.status_code == 503
        body = failing.json()
        assert body["code"] == "unavailable"
        assert body["reasons"] == ["store: the store is failing on purpose"]
        assert body["message"] == "not ready: store: the store is failing on purpose"
        alive = await http.get("/healthz")  # alive all the same: a restart mends no store
        assert alive.status_code == 200 and alive.json()["status"] == "ok"

        store.fail_appends = False
        assert (await http.get("/readyz")).status_code == 200


async def test_readyz_names_the_bus_and_the_leases_when_they_fail() -> None:
    async with in_process() as server, server.client() as http:
        server.ctx.node.leases = lambda: "sale spring is held by node-b"
        server.ctx.house.bus.close()
        reply = await http.get("/readyz")
        assert reply.status_code == 503
        assert reply.json()["reasons"] == [
            "bus: the bus is closed",
            "leases: sale spring is held by node-b",
        ]
        metrics = await http.get("/metrics")
        assert "bidwire_ready 0.0" in metrics.text


async def test_the_node_s_name_is_in_api_info_and_healthz() -> None:
    async with in_process() as server, server.client() as http:
        server.ctx.node.name = "node-c"
        assert (await http.get("/api/info")).json()["node"] == "node-c"
        assert (await http.get("/healthz")).json()["node"] == "node-c"


async def test_the_openapi_describes_the_probes_and_the_metrics() -> None:
    async with in_process() as server, server.client() as http:
        spec = (await http.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    assert "NotReady" in str(paths["/readyz"]["get"]["responses"]["503"])
    assert "/healthz" in paths
    assert "text/plain" in str(paths["/metrics"]["get"]["responses"]["200"]["content"])
