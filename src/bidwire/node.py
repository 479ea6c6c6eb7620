"""This node: its name, what /readyz checks, and what /metrics says (prometheus_client).

The numbers themselves are kept where they happen (bidwire/metrics.py's histograms and
counters on the house, the gate, the feed and the bus); ``NodeCollector`` reads them at scrape
time, with what is cheaper to read when asked than to keep (connections, queue depths).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bidwire.metrics import BID_REFUSAL_CODES, LEASES

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

    from bidwire.transports.session import SessionContext


def _all_held() -> str | None:
    return None


def _no_connections() -> int:
    return 0


def default_node_name(port: int) -> str:
    """The host name and the HTTP port, so two nodes on one machine differ; the host name
    alone while the port is 0 (picked when it is bound, and the name then completed)."""
    host = socket.gethostname()
    return f"{host}:{port}" if port else host


@dataclass(slots=True)
class Node:
    """This node: its name (``--node-name``; shown by /api/info, /metrics and the logs) and
    the hooks /readyz and /metrics read."""

    name: str = field(default_factory=lambda: default_node_name(0))
    leases: Callable[[], str | None] = _all_held
    """Why this node does not hold the leases it should, in words, or None. One node on
    SQLite holds every sale by being the only one: the default says so."""
    http_connections: Callable[[], int] = _no_connections
    """Open HTTP connections (not WebSockets): set by the HTTP server when it starts."""


def _outlet_kind(outlet: object) -> str:
    kind = getattr(outlet, "transport_kind", "other")
    return kind if isinstance(kind, str) else "other"


def _queued_bytes(outlet: object) -> int:
    queued = getattr(outlet, "queued_bytes", 0)
    return queued if isinstance(queued, int) else 0


class NodeCollector:
    """prometheus_client's view of one node: every family built from the numbers at the
    moment of the scrape."""

    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        ctx = self.ctx
        house = ctx.house
        node = ctx.node

        info = GaugeMetricFamily(
            "bidwire_node_info", "This node's name (--node-name); always 1.", labels=["node"]
        )
        info.add_metric([node.name], 1)
        yield info

        yield CounterMetricFamily(
            "bidwire_bids_accepted",
            "Bids committed to the store and acknowledged.",
            value=house.accepted_bids,
        )
        refused = CounterMetricFamily(
            "bidwire_bids_refused", "Bids refused, by their wire code.", labels=["code"]
        )
        codes = dict.fromkeys(BID_REFUSAL_CODES, 0)
        for counts in (house.refused_bids, ctx.gate.refused_bids):
            for code, n in counts.items():
                codes[code] = codes.get(code, 0) + n
        for code, n in sorted(codes.items()):
            refused.add_metric([code], n)
        yield refused

        yield HistogramMetricFamily(
            "bidwire_commit_latency_seconds",
            "From a lot's events handed to the store (append) to their commit resolved.",
            buckets=house.commit_latency.buckets(),
            sum_value=house.commit_latency.total,
        )
        yield HistogramMetricFamily(
            "bidwire_fanout_latency_seconds",
            "From a committed event heard from the bus to its bytes handed to every connection"
            " (each event counted at the wait of the oldest event of its flush: an upper bound).",
            buckets=ctx.feed.fanout_latency.buckets(),
            sum_value=ctx.feed.fanout_latency.total,
        )
        yield HistogramMetricFamily(
            "bidwire_bus_lag_seconds",
            "From an event's publish on the bus to it being heard here (0 on memory://: the"
            " bus is this process).",
            buckets=house.bus.lag.buckets(),
            sum_value=house.bus.lag.total,
        )
        yield CounterMetricFamily(
            "bidwire_events_delivered",
            "Events handed to connections, once per connection.",
            value=ctx.feed.delivered,
        )

        connections = {"tcp": 0, "ws": 0, "http": node.http_connections()}
        deepest = 0
        backed_up = 0
        for session in ctx.sessions:
            outlet = session.outlet
            kind = _outlet_kind(outlet)
            connections[kind] = connections.get(kind, 0) + 1
            deepest = max(deepest, _queued_bytes(outlet))
            backed_up += session.stale
        by_transport = GaugeMetricFamily(
            "bidwire_connections", "Open connections, by transport.", labels=["transport"]
        )
        for kind, n in sorted(connections.items()):
            by_transport.add_metric([kind], n)
        yield by_transport
        yield GaugeMetricFamily(
            "bidwire_outbound_queue_bytes_max",
            "Bytes waiting to be written to the slowest connection.",
            value=deepest,
        )
        yield GaugeMetricFamily(
            "bidwire_outbound_conflating_connections",
            "Connections that fell behind and wait for a fresh snapshot (their events dropped).",
            value=backed_up,
        )
        yield GaugeMetricFamily(
            "bidwire_store_queue_depth",
            "Appends handed to the store and not yet committed (the writer's queue and the"
            " commit under way).",
            value=house.pending_commits,
        )
        yield GaugeMetricFamily(
            "bidwire_lots_open", "Lots open, paused or waiting to open.", value=len(house.lots)
        )

        leases = CounterMetricFamily(
            "bidwire_lease_changes",
            "Sale leases taken, renewed, lost or let go.",
            labels=["change"],
        )
        for change, n in sorted(LEASES.changes.items()):
            leases.add_metric([change], n)
        yield leases
        yield GaugeMetricFamily(
            "bidwire_ready", "1 when /readyz answers 200.", value=int(not not_ready(ctx))
        )


def not_ready(ctx: SessionContext) -> list[str]:
    """Why this node should not be sent clients, in words; empty when it is ready."""
    reasons = []
    if not ctx.house.accepting:
        reasons.append("the server is shutting down")
    store = ctx.house.store.fault()
    if store is not None:
        reasons.append(f"store: {store}")
    bus = ctx.house.bus.fault()
    if bus is not None:
        reasons.append(f"bus: {bus}")
    leases = ctx.node.leases()
    if leases is not None:
        reasons.append(f"leases: {leases}")
    return reasons


def registry_for(ctx: SessionContext) -> CollectorRegistry:
    """A registry of this node's collector and the process's own (CPU, memory, descriptors,
    the collector's runs): one per server, so tests that run several in one process do not
    mix their figures."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(ctx))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
