"""The scenarios beyond fan-out: contention, connections, many lots (bidwire over TCP JSON / WS).

Run as its own process, pinned to a core of its own (``--cpu``), against a server the harness
started with a catalog of its own (``harness.py catalog``). Every loop is bounded in count and
in time; only loopback targets.

* ``contention``: B bidders race on one lot, closed loop: a bidder sends its next bid only
  after the answer to its last one. Bids are paced at R/s in total (a bid that falls due while
  every bidder waits for an answer is not sent: the offered rate is then what the server's
  answers allow). Amounts come from one counter, one minor unit apart, so a bid loses only to a
  race. Figures: offered, answered and accepted (= committed: ``bid_accepted`` is sent after
  the commit) bids/s, and acknowledgment latency (send -> answer read) p50/p99/max.
  ``--max-share 0.5``: every second bid also carries ``max_amount`` (its amount plus
  ``--max-headroom``); with ``--step`` at least twice the increment, the plain bid after it is
  answered at once by the house (two events in one commit) and still leaves the next amount free.
* ``manylots``: B bidders spread over L lots of a timed sale (bidder i on lot i % L), each
  subscribed to its own lot only, offering R bids/s in total, round-robin over the lots.
  Figures: the same, plus staleness (send -> every subscriber of that lot read the amount).
* ``connections``: open up to N idle connections (TCP JSON or WebSocket; each says hello and
  gets its welcome) in paced batches, hold them, count how many are still open, and read the
  server's RSS before and after: RSS per connection.

Receipt times here are taken when the generator reads (time.perf_counter), not kernel stamps:
few messages per read, and the generator's CPU share is reported so that a generator-bound run
says so.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import re
import resource
import socket
import sys
import time
from array import array
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # bench/ is not a package: found through sys.path

# Field order is not part of the protocol: lookaheads find each field anywhere on the line.
ANSWER = re.compile(
    rb'^(?=[^\n]*"type":"bid_(accepted|rejected)")(?=[^\n]*"id":(\d+))(?=(?:[^\n]*"code":"(\w+)")?)',
    re.M,
)
PLACED = re.compile(
    rb'^(?=[^\n]*"type":"bid_placed")(?=[^\n]*"lot":"([^"]*)")(?=[^\n]*"amount":(\d+))',
    re.M,
)
GENERATOR_BOUND = loadgen.GENERATOR_BOUND
WARMUP_IDS = 1_000_000_000  # request ids of the bids before the window, apart from its own


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
        raise ValueError("this generator only targets loopback addresses")


def _pct(samples: array[float]) -> dict[str, Any]:
    if not samples:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    s = sorted(samples)
    return {
        "count": len(s),
        "p50": round(loadgen.percentile(s, 50) * 1000, 3),
        "p90": round(loadgen.percentile(s, 90) * 1000, 3),
        "p99": round(loadgen.percentile(s, 99) * 1000, 3),
        "max": round(s[-1] * 1000, 3),
    }


class Client(asyncio.Protocol):
    """A TCP JSON client: hello, then bids; answers and bid_placed lines parsed by regex."""

    def __init__(self, gen: Gen, idx: int, lot: str, watch: list[str] | None) -> None:
        self.gen, self.idx, self.lot, self.watch = gen, idx, lot, watch
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.ready = False
        self.busy = False
        self.subscribed = watch is None
        self.port = gen.ns.ports[idx % len(gen.ns.ports)] if gen.ns.ports else gen.ns.port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        name = f"{self.gen.prefix}{self.idx}"
        transport.write(b'{"type":"hello","name":"%s"}\n' % name.encode())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        data, end, self.tail = loadgen.whole_lines(self.tail, data)
        if end == 0:
            return
        if not self.ready and b'"welcome"' in data:
            self.ready = True
            if self.watch is not None and self.transport is not None:
                lots = json.dumps(self.watch).encode()
                self.transport.write(b'{"type":"subscribe","id":0,"lots":%s}\n' % lots)
        if not self.subscribed and b'"subscribed"' in data:
            self.subscribed = True
        gen = self.gen
        for m in ANSWER.finditer(data, 0, end):
            gen.on_answer(self, int(m[2]), m[1] == b"accepted", m[3], now)
        if gen.track_placed:
            for m in PLACED.finditer(data, 0, end):
                gen.on_placed(m[1], int(m[2]), now)

    def bid(self, k: int, amount: int, max_amount: int | None = None) -> None:
        assert self.transport is not None
        self.busy = True
        if max_amount is None:
            line = b'{"type":"bid","id":%d,"lot":"%s","amount":%d}\n' % (
                k,
                self.lot.encode(),
                amount,
            )
        else:
            line = b'{"type":"bid","id":%d,"lot":"%s","amount":%d,"max_amount":%d}\n' % (
                k,
                self.lot.encode(),
                amount,
                max_amount,
            )
        self.transport.write(line)


class Gen:
    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns
        self.prefix = ns.name_prefix
        self.track_placed = ns.scenario == "manylots"
        self.sent: dict[int, tuple[float, str, int]] = {}
        self.ack = array("d")
        self.ack_accepted = array("d")
        self.ack_by_port: dict[int, array[float]] = {}
        self.accepted: list[tuple[str, int, float]] = []
        self.rejected: dict[str, int] = {}
        self.answered = 0
        self.warm_accepted = 0
        self.idle: dict[str, deque[Client]] = {}
        """Per lot, the bidders with no bid in flight, oldest first: picking the next one costs
        O(1) (a scan of every bidder per bid made this generator its own bottleneck)."""
        # manylots: lot -> (receipt times, amounts), across every subscriber of that lot
        self.placed: dict[bytes, tuple[array[float], array[int]]] = {}

    def on_answer(self, c: Client, k: int, ok: bool, code: bytes | None, now: float) -> None:
        sent = self.sent.pop(k, None)
        if c.busy:
            c.busy = False
            self.idle[c.lot].append(c)  # at the back: the others of its lot bid first
        if sent is None:
            return
        self.answered += 1
        self.ack.append(now - sent[0])
        self.ack_by_port.setdefault(c.port, array("d")).append(now - sent[0])
        if ok:
            self.ack_accepted.append(now - sent[0])
            self.accepted.append((sent[1], sent[2], sent[0]))
        else:
            key = (code or b"?").decode()
            self.rejected[key] = self.rejected.get(key, 0) + 1

    def on_placed(self, lot: bytes, amount: int, now: float) -> None:
        rec = self.placed.get(lot)
        if rec is None:
            rec = self.placed[lot] = (array("d"), array("q"))
        rec[0].append(now)
        rec[1].append(amount)


async def _connect(
    ns: argparse.Namespace, n: int, make: Any, label: str
) -> tuple[list[Any], int, float]:
    """Paced batches; returns (opened, failed, seconds)."""
    loop = asyncio.get_running_loop()
    opened: list[Any] = []
    failed = 0
    t0 = time.perf_counter()
    for i in range(0, n, ns.connect_batch):
        batch = []
        for j in range(i, min(n, i + ns.connect_batch)):
            proto = make(j)
            port = getattr(proto, "port", ns.port)
            batch.append(
                asyncio.wait_for(loop.create_connection(lambda p=proto: p, ns.host, port), 30)
            )
        results = await asyncio.gather(*batch, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                failed += 1
            else:
                opened.append(r[1])
        await asyncio.sleep(ns.connect_interval)
    return opened, failed, time.perf_counter() - t0


async def _wait(cond: Any, timeout: float) -> bool:
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return bool(cond())


def _server_reading(pid: int | None, more: tuple[int, ...] = ()) -> tuple[float, dict[str, int]]:
    """CPU seconds of the server (of every node's, summed, given ``more``) and the first's
    memory."""
    pids = more or ((pid,) if pid else ())
    if not pids:
        return 0.0, {}
    return sum(loadgen.proc_cpu_seconds(p) for p in pids), loadgen.proc_status(pids[0])


async def bidding(ns: argparse.Namespace) -> dict[str, Any]:
    """contention and manylots: paced bids over idle bidders, closed loop per bidder."""
    gen = Gen(ns)
    lots: list[str] = ns.lots.split(",") if ns.lots else [ns.lot]
    per_lot: dict[str, list[Client]] = {lot: [] for lot in lots}
    clients: list[Client] = []

    def make(i: int) -> Client:
        lot = lots[i % len(lots)]
        watch = [lot] if ns.scenario == "manylots" else [ns.quiet_lot]
        c = Client(gen, i, lot, watch)
        clients.append(c)
        per_lot[lot].append(c)
        return c

    _, failed, connect_s = await _connect(ns, ns.bidders, make, "bidder")
    await _wait(lambda: all(c.ready and c.subscribed for c in clients), 60)
    ready = sum(c.ready and c.subscribed for c in clients)
    for lot, group in per_lot.items():
        gen.idle[lot] = deque(c for c in group if c.ready)
    await asyncio.sleep(ns.settle)

    next_amount = {lot: ns.start_amount for lot in lots}
    if ns.warmup:
        await _warm_up(gen, clients, next_amount, ns)
    ru0 = time.process_time()
    srv_cpu0, _ = _server_reading(ns.server_pid, ns.server_pids)
    t0 = time.perf_counter()
    total = int(ns.rate * ns.duration)
    offered = skipped = 0
    k = 0
    lot_i = 0
    while k < total:
        now = time.perf_counter()
        if now - t0 >= ns.duration:
            break
        due = min(total, int((now - t0) * ns.rate) + 1)
        while k < due:
            lot = lots[lot_i % len(lots)]
            lot_i += 1
            # the idle bidder of this lot that waited longest (never the same one twice running
            # while there are several, so a bid is not refused as already_leading)
            idle = gen.idle[lot]
            chosen = idle.popleft() if idle else None
            if chosen is None:
                skipped += 1
            else:
                amount = next_amount[lot]
                next_amount[lot] = amount + ns.step
                gen.sent[k] = (time.perf_counter(), lot, amount)
                # every 1/share-th bid leaves a maximum (spread evenly, no randomness)
                with_max = int((k + 1) * ns.max_share) > int(k * ns.max_share)
                chosen.bid(k, amount, amount + ns.max_headroom if with_max else None)
                offered += 1
            k += 1
        # 1 ms, not less: uvloop's timers count whole milliseconds and round 0.5 ms down to 0,
        # which made this loop spin (40% of the generator's CPU at 20,000 offered bids/s).
        # Every bid that fell due meanwhile is sent on the next turn.
        await asyncio.sleep(0.001)
    t1 = time.perf_counter()
    window = t1 - t0
    gen_cpu = time.process_time() - ru0
    srv_cpu1, status = _server_reading(ns.server_pid, ns.server_pids)
    answered_in_window = gen.answered
    accepted_in_window = len(gen.accepted)
    await _wait(lambda: not gen.sent, ns.drain)
    drain_s = time.perf_counter() - t1
    report: dict[str, Any] = {
        "scenario": ns.scenario,
        "config": {k: v for k, v in vars(ns).items() if k != "func"},
        "connect": {"ready": ready, "failed": failed, "seconds": round(connect_s, 3)},
        "window_s": round(window, 3),
        "bids": {
            "due": total,
            "offered": offered,
            "not_sent_all_busy": skipped,
            "offered_per_s": round(offered / window, 1),
            "answered_per_s": round(answered_in_window / window, 1),
            "accepted_per_s": round(accepted_in_window / window, 1),
            "accepted_total": len(gen.accepted),
            "warmup_accepted": gen.warm_accepted,
            "rejected": gen.rejected,
            "unanswered": len(gen.sent),
            "drain_s": round(drain_s, 3),
        },
        "ack_ms": _pct(gen.ack),
        "ack_accepted_ms": _pct(gen.ack_accepted),
        "ack_by_port_ms": {str(port): _pct(acks) for port, acks in gen.ack_by_port.items()},
        "generator": {
            "cpu_s": round(gen_cpu, 3),
            "cpu_fraction": round(gen_cpu / window, 3),
            "generator_bound": gen_cpu / window > GENERATOR_BOUND,
        },
        "server": (
            {
                "cpu_s": round(srv_cpu1 - srv_cpu0, 3),
                "cpu_fraction": round((srv_cpu1 - srv_cpu0) / window, 3),
                **status,
            }
            if ns.server_pid or ns.server_pids
            else None
        ),
    }
    if ns.scenario == "manylots":
        report["staleness_ms"], report["missed"] = _lot_staleness(gen, per_lot)
    for c in clients:
        if c.transport is not None:
            c.transport.abort()
    return report


async def _warm_up(
    gen: Gen, clients: list[Client], next_amount: dict[str, int], ns: argparse.Namespace
) -> None:
    """One bid from every bidder before the window, forgotten after: a guest's first bid
    also saves the guest (bidwire keeps a bidding guest's name), a write of another kind
    that the window would otherwise count against the first bids."""
    for i, c in enumerate(c for c in clients if c.ready):
        gen.idle[c.lot].remove(c)
        amount = next_amount[c.lot]
        next_amount[c.lot] = amount + ns.step
        gen.sent[WARMUP_IDS + i] = (time.perf_counter(), c.lot, amount)
        c.bid(WARMUP_IDS + i, amount)
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # paced: the window measures the rate, not this
    await _wait(lambda: not gen.sent, 30)
    await asyncio.sleep(ns.settle)
    gen.warm_accepted = len(gen.accepted)
    gen.ack, gen.ack_accepted, gen.ack_by_port = array("d"), array("d"), {}
    gen.accepted, gen.rejected, gen.answered = [], {}, 0


def _lot_staleness(gen: Gen, per_lot: dict[str, list[Client]]) -> tuple[dict[str, Any], int]:
    """Per accepted bid: for each subscriber of its lot, first receipt of that amount or more.

    Receipts are pooled per lot across its subscribers, so each accepted bid pairs with the
    first ``subscribers`` receipts of an amount >= it (each subscriber receives it once)."""
    stale = array("d")
    missed = 0
    by_lot: dict[str, list[tuple[int, float]]] = {}
    for lot, amount, sent in gen.accepted:
        by_lot.setdefault(lot, []).append((amount, sent))
    for lot, bids in by_lot.items():
        subs = sum(c.ready for c in per_lot[lot])
        rec = gen.placed.get(lot.encode())
        pairs = sorted(zip(rec[1], rec[0], strict=True)) if rec else []
        for amount, sent in bids:
            got = [t for a, t in pairs if a == amount]
            missed += max(0, subs - len(got))
            stale.extend(t - sent for t in got)
    return _pct(stale), missed


async def connections(ns: argparse.Namespace) -> dict[str, Any]:
    """Idle connections: hello + welcome each, then hold."""
    _, before = _server_reading(ns.server_pid)
    watchers = [loadgen.Watcher(None, b'"welcome"') for _ in range(ns.connections)]
    conns: list[Any] = []

    async def open_one(i: int) -> None:
        hello = b'{"type":"hello","name":"%s%d"}\n' % (ns.name_prefix.encode(), i)
        if ns.transport == "ws":
            c: Any = loadgen.StampedWsWatcher(watchers[i], re.compile(rb"$^"))
            conns.append(c)
            await c.open(ns.host, ns.port, hello, ns.ws_path)
        else:
            c = loadgen.StampedWatcher(watchers[i], re.compile(rb"$^"))
            conns.append(c)
            await c.open(ns.host, ns.port, hello)

    t0 = time.perf_counter()
    failed = 0
    for i in range(0, ns.connections, ns.connect_batch):
        batch = [
            asyncio.wait_for(open_one(j), 30)
            for j in range(i, min(ns.connections, i + ns.connect_batch))
        ]
        results = await asyncio.gather(*batch, return_exceptions=True)
        failed += sum(isinstance(r, BaseException) for r in results)
        await asyncio.sleep(ns.connect_interval)
        if failed > ns.connect_batch:  # the server (or a limit) is refusing: stop here
            break
    await _wait(lambda: sum(w.ready for w in watchers) >= len(conns) - failed, 30)
    connect_s = time.perf_counter() - t0
    await asyncio.sleep(ns.hold)
    alive = sum(1 for c in conns if c.sock is not None and c.w.ready)
    _, after = _server_reading(ns.server_pid)
    rss_delta = after.get("rss_kib", 0) - before.get("rss_kib", 0)
    report = {
        "scenario": "connections",
        "transport": ns.transport,
        "config": {k: v for k, v in vars(ns).items() if k != "func"},
        "asked": ns.connections,
        "attempted": len(conns),
        "failed": failed,
        "held": alive,
        "connect_s": round(connect_s, 2),
        "server_before": before,
        "server_after": after,
        "rss_delta_kib": rss_delta,
        "rss_per_conn_kib": round(rss_delta / alive, 2) if alive else None,
        "generator_rss_kib": loadgen.proc_status(os.getpid()).get("rss_kib"),
    }
    for c in conns:
        c.shut()
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", choices=("contention", "manylots", "connections"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ports", default="", help="several nodes: bidder i to port i %% n")
    p.add_argument("--server-pids", default="", help="several nodes: their CPU summed")
    p.add_argument("--ws-path", default="/ws")
    p.add_argument("--transport", choices=("json", "ws"), default="json")
    p.add_argument("--bidders", type=int, default=1000)
    p.add_argument("--lot", default="hot")
    p.add_argument("--lots", default="", help="manylots: comma-separated lot ids")
    p.add_argument("--quiet-lot", default="quiet")
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--drain", type=float, default=5.0)
    p.add_argument("--settle", type=float, default=0.5)
    p.add_argument("--start-amount", type=int, default=100)
    p.add_argument(
        "--warmup", action="store_true", help="one bid a bidder before the window, not counted"
    )
    p.add_argument("--step", type=int, default=1)
    p.add_argument(
        "--max-share",
        type=float,
        default=0.0,
        help="contention: the share of bids that carry max_amount (amount + --max-headroom)",
    )
    p.add_argument("--max-headroom", type=int, default=2)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--hold", type=float, default=2.0)
    p.add_argument("--connect-batch", type=int, default=500)
    p.add_argument("--connect-interval", type=float, default=0.05)
    p.add_argument("--name-prefix", default="s")
    p.add_argument("--server-pid", type=int, default=None)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--json", default=None)
    ns = p.parse_args(argv)
    ns.ports = tuple(int(x) for x in ns.ports.split(",") if x)
    ns.server_pids = tuple(int(x) for x in ns.server_pids.split(",") if x)
    _check_loopback(ns.host)
    if ns.cpu is not None:
        os.sched_setaffinity(0, {ns.cpu})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    coro = connections(ns) if ns.scenario == "connections" else bidding(ns)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        report = runner.run(asyncio.wait_for(coro, ns.timeout))
    text = json.dumps(report, indent=2)
    if ns.json:
        Path(ns.json).write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
