"""Several nodes on the local PostgreSQL and Redis: one hot lot's bids at every node, and the
fan-out spread over three nodes against one node's.

    python bench/cluster.py hot [--runs 3 --bidders 300 --rate 1000 --duration 10]
    python bench/cluster.py fanout [--runs 3 --watchers 600 --bidders 6 --rate 50 --duration 10]

Each run starts its own nodes (``bidwire serve --store postgresql://...?schema=bw_bench_<hex>
&db_clock=1 --bus redis://...?channel=bw_bench_<hex>``, a timed sale with one hot lot and a
quiet one, the per-user bid limits lifted), waits until every node's /readyz says 200 (a node
holds the sale), drives them from a generator in a process of its own, stops them by PID and
drops its schema and its Redis keys (the channel is the limits' prefix). Runs of the two
layouts alternate (one node, three nodes, one, three...), so that both meet the same noise on
this shared machine. Only loopback; every run bounded in bids and time.

* ``hot``: bench/scenarios.py's contention (closed loop per bidder, paced at ``--rate`` in
  total, amounts one unit apart), bidder i on node i % N: a third of the bids at each of three
  nodes, two thirds of them forwarded to the sale's owner. Figures: ack latency (send ->
  answer) p50/p99 over every answer and by node, committed bids/s (``bid_accepted`` comes after
  the commit), and acks checked against the rows in the store. Against one node of its own on
  the same PostgreSQL and Redis.
* ``fanout``: bench/loadgen.py's fanout, watchers spread as above and the bidders on the first
  node (the same bids in every layout; spread, their races refuse some); the figure is
  the servers' CPU (every node's, summed, from /proc) per bid event delivered to a watcher,
  beside the nodes' idle CPU measured just before (leases, the once-a-second reload check).

Medians with ranges; everything goes to ``bench/results/cluster-<scenario>-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import harness  # noqa: E402  (bench/ is not a package: found through sys.path)

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"
READY_S = 30.0


def node_cmd(ns: argparse.Namespace, name: str, catalog: Path, schema: str) -> list[str]:
    return [
        str(ns.bidwire),
        "serve",
        "--tcp-port=0",
        "--http-port=0",
        f"--store={ns.postgres}?schema={schema}&db_clock=1",
        f"--bus={ns.redis}?channel={schema}",
        f"--node-name={name}",
        "--no-demo",
        f"--catalog={catalog}",
        # the per-user abuse limits would refuse a load generator's bids: lifted for the bench
        "--bid-rate=1000000",
        "--bid-burst=1000000",
        "--max-connections-per-address=20000",
    ]


def ready(http_port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{http_port}/readyz"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


async def _drop(dsn: str, schema: str) -> None:
    import asyncpg

    assert schema.startswith("bw_bench_"), "only a schema made here is dropped"
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def _count_bids(dsn: str, schema: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        value = await conn.fetchval(
            f"SELECT count(*) FROM \"{schema}\".events WHERE type = 'bid_placed'"
        )
    finally:
        await conn.close()
    return int(value)


def _forget_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1_000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextlib.contextmanager
def nodes(ns: argparse.Namespace, count: int) -> Iterator[tuple[list[harness.Server], str]]:
    """``count`` nodes of a cluster of this run's own, every one ready; then all of it gone."""
    schema = f"bw_bench_{secrets.token_hex(4)}"
    servers: list[harness.Server] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bidwire-cluster-bench-") as tmp:
            catalog = Path(tmp) / "catalog.json"
            harness.write_catalog(catalog, 1, quiet=True)
            for i in range(count):
                server = harness.Server(
                    node_cmd(ns, f"n{i + 1}", catalog, schema), harness.PORT_REGEX, cpu=None
                )
                server.ready_timeout = READY_S
                servers.append(server.__enter__())
            deadline = time.monotonic() + READY_S
            while not all(ready(s.ports[1]) for s in servers):
                if time.monotonic() > deadline:
                    raise RuntimeError("the nodes were not all ready (/readyz 200) in time")
                time.sleep(0.2)
            yield servers, schema
    finally:
        for server in servers:
            server.stop()
        asyncio.run(_drop(ns.postgres, schema))
        _forget_keys(ns.redis, f"{schema}:")


def layout(text: str) -> tuple[int, int]:
    """``N``: N nodes, the clients spread over all; ``N:M``: the clients on the first M only
    (``3:1`` shows what the two nodes without a client cost: a follower's share of each event)."""
    count, _, served = text.partition(":")
    n, m = int(count), int(served or count)
    if not 1 <= m <= n:
        raise ValueError(f"a layout is N or N:M with 1 <= M <= N, not {text!r}")
    return n, m


def hot_once(ns: argparse.Namespace, shape: str) -> dict[str, Any]:
    count, served = layout(shape)
    load = os.getloadavg()  # this machine is shared: how busy it was, beside each run's figures
    with nodes(ns, count) as (servers, schema), profiled(ns, servers):
        report = harness.run_scenario(
            [
                "contention",
                f"--port={servers[0].ports[0]}",
                f"--ports={','.join(str(s.ports[0]) for s in servers[:served])}",
                f"--server-pids={','.join(str(s.pid) for s in servers)}",
                f"--bidders={ns.bidders}",
                f"--rate={ns.rate}",
                f"--duration={ns.duration}",
                "--name-prefix=c",
                *(["--warmup"] if ns.warmup else []),
            ],
            None,
            ns.timeout,
        )
        report["nodes"] = count
        report["layout"] = shape
        report["loadavg_1m_before"] = load[0]
        report["node_ports"] = [s.ports[0] for s in servers]
        time.sleep(0.5)  # the last commits' rows, for the count
        report["durable_check"] = {
            "acked_total": report["bids"]["accepted_total"] + report["bids"]["warmup_accepted"],
            "committed_rows": asyncio.run(_count_bids(ns.postgres, schema)),
        }
        return report


@contextlib.contextmanager
def profiled(ns: argparse.Namespace, servers: Sequence[harness.Server]) -> Iterator[None]:
    """With ``--profile DIR``: py-spy samples every node for the run (raw folded stacks, a
    file a node and run). For where the CPU goes, not how much: sampling costs CPU too."""
    if ns.profile is None:
        yield
        return
    ns.profile.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%H%M%S")
    spies = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                f"--pid={server.pid}",
                "--format=raw",
                "--rate=200",
                "--nonblocking",
                f"--output={ns.profile / f'{len(servers)}nodes-n{i + 1}-{stamp}.txt'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, server in enumerate(servers)
    ]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        for spy in spies:
            try:
                spy.wait(20)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(5)


def fanout_once(ns: argparse.Namespace, shape: str) -> dict[str, Any]:
    from loadgen import proc_cpu_seconds

    count, served = layout(shape)
    load = os.getloadavg()
    with nodes(ns, count) as (servers, _), profiled(ns, servers):
        pids = [s.pid for s in servers]
        before = [proc_cpu_seconds(p) for p in pids]
        time.sleep(ns.idle)
        idle = sum(proc_cpu_seconds(p) - b for p, b in zip(pids, before, strict=True))
        report = harness.run_loadgen(
            [
                "--target=json",
                f"--port={servers[0].ports[0]}",
                f"--ports={','.join(str(s.ports[0]) for s in servers[:served])}",
                f"--server-pids={','.join(str(p) for p in pids)}",
                # the bidders on one node in every layout: the same bids, in one order (spread,
                # their races refuse some as too low: fewer events for the same CPU)
                f"--bidder-port={servers[0].ports[0]}",
                f"--watchers={ns.watchers}",
                f"--bidders={ns.bidders}",
                f"--rate={ns.rate}",
                f"--duration={ns.duration}",
                "--lot=hot",
                "--start-amount=100",
                f"--timeout={ns.timeout}",
            ],
            None,
            ns.timeout + 15,
        )
        events = report["events"]["bid_events_per_s"] * report["window_s"]
        cpu = report["server"]["cpu_s"]
        idle_fraction = idle / ns.idle
        report["nodes"] = count
        report["layout"] = shape
        report["loadavg_1m_before"] = load[0]
        report["idle_cpu_fraction"] = round(idle_fraction, 4)
        report["cpu_us_per_event"] = round(cpu / max(events, 1) * 1e6, 3)
        net = cpu - idle_fraction * report["window_s"]
        report["cpu_us_per_event_less_idle"] = round(net / max(events, 1) * 1e6, 3)
        return report


HOT_COLS: list[tuple[str, tuple[str, ...], str]] = [
    ("load 1m", ("loadavg_1m_before",), "{:.1f}"),
    ("offered/s", ("bids", "offered_per_s"), "{:.0f}"),
    ("committed/s", ("bids", "accepted_per_s"), "{:.0f}"),
    ("ack p50 ms", ("ack_ms", "p50"), "{:.2f}"),
    ("ack p99 ms", ("ack_ms", "p99"), "{:.2f}"),
    ("ack max ms", ("ack_ms", "max"), "{:.1f}"),
    ("servers' cpu", ("server", "cpu_fraction"), "{:.2f}"),
    ("gen cpu", ("generator", "cpu_fraction"), "{:.2f}"),
]

FANOUT_COLS: list[tuple[str, tuple[str, ...], str]] = [
    ("load 1m", ("loadavg_1m_before",), "{:.1f}"),
    ("accepted/s", ("bids", "accepted_per_s"), "{:.1f}"),
    ("events/s", ("events", "bid_events_per_s"), "{:.0f}"),
    ("missed", ("events", "missed"), "{:.0f}"),
    ("servers' cpu", ("server", "cpu_fraction"), "{:.2f}"),
    ("idle cpu", ("idle_cpu_fraction",), "{:.3f}"),
    ("cpu µs/event", ("cpu_us_per_event",), "{:.2f}"),
    ("less idle µs/event", ("cpu_us_per_event_less_idle",), "{:.2f}"),
    ("stale p99 ms", ("staleness_ms", "p99"), "{:.1f}"),
    ("gen cpu", ("generator", "cpu_fraction"), "{:.2f}"),
]


def table(runs: dict[str, list[dict[str, Any]]], cols: Sequence[Any]) -> str:
    head = "| nodes | runs | " + " | ".join(c[0] for c in cols) + " |"
    lines = [head, "| " + " | ".join(["---"] * (len(cols) + 2)) + " |"]
    for count, rs in runs.items():
        cells = [harness.cell_range(harness.median_at(rs, path), fmt) for _, path, fmt in cols]
        lines.append(f"| {count} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def by_node(runs: list[dict[str, Any]]) -> str:
    """Ack p99 at each node's port, by the node's place (n1, n2...): the owner's bids are not
    forwarded, the others' are."""
    rows = []
    for r in runs:
        p99 = [r["ack_by_port_ms"].get(str(port), {}).get("p99") for port in r["node_ports"]]
        rows.append(" / ".join("-" if v is None else f"{v:.2f}" for v in p99))
    return "; ".join(rows)


def alternate(
    ns: argparse.Namespace, once: Any
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    runs: dict[str, list[dict[str, Any]]] = {count: [] for count in ns.layouts}
    errors: list[str] = []
    for i in range(ns.runs):
        for count in ns.layouts:
            try:
                runs[count].append(once(ns, count))
            except (RuntimeError, OSError, KeyError, json.JSONDecodeError) as exc:
                errors.append(f"run {i + 1}, {count} node(s): {exc}")
                print(errors[-1], file=sys.stderr)
            except Exception as exc:  # a generator's timeout and the like: note it, go on
                errors.append(f"run {i + 1}, {count} node(s): {type(exc).__name__}: {exc}")
                print(errors[-1], file=sys.stderr)
    return runs, errors


def cmd_hot(ns: argparse.Namespace) -> int:
    runs, errors = alternate(ns, hot_once)
    print(
        f"one hot lot, {ns.bidders} bidders a {1}/N each node, {ns.rate:g} bids/s offered,"
        f" {ns.duration:g} s, runs alternated; median (range)"
    )
    print(table(runs, HOT_COLS))
    summary: dict[str, Any] = {}
    for count, rs in runs.items():
        durable = all(
            r["durable_check"]["acked_total"] == r["durable_check"]["committed_rows"] for r in rs
        )
        print(
            f"{count} node(s): acks == rows {'yes' if durable else 'NO'};"
            f" ack p99 by node {by_node(rs)}"
        )
        summary[str(count)] = {
            title: harness.median_at(rs, path) for title, path, _ in HOT_COLS
        } | {"durable": durable}
    harness.save(ns, "cluster-hot", {"summary": summary, "runs": runs, "errors": errors})
    return 0 if all(runs.values()) and not errors else 1


def cmd_fanout(ns: argparse.Namespace) -> int:
    runs, errors = alternate(ns, fanout_once)
    print(
        f"fan-out: {ns.watchers} watchers and {ns.bidders} bidders spread over the nodes,"
        f" {ns.rate:g} bids/s, {ns.duration:g} s, runs alternated; median (range)"
    )
    print(table(runs, FANOUT_COLS))
    summary: dict[str, Any] = {
        str(count): {title: harness.median_at(rs, path) for title, path, _ in FANOUT_COLS}
        for count, rs in runs.items()
    }
    ratios: dict[str, Any] = {}
    if len(ns.layouts) >= 2 and all(runs.values()):
        one, many = ns.layouts[:2]  # the second layout against the first
        for key in ("cpu_us_per_event", "cpu_us_per_event_less_idle"):
            pairs = [  # each run against the run of the other layout just before it
                b[key] / max(a[key], 1e-9) for a, b in zip(runs[one], runs[many], strict=False)
            ]
            ratios[key] = harness.med(pairs)
            print(f"{key}: {many} nodes / {one} node = {harness.cell_range(ratios[key], '{:.2f}')}")
    harness.save(
        ns, "cluster-fanout", {"summary": summary, "ratios": ratios, "runs": runs, "errors": errors}
    )
    return 0 if all(runs.values()) and not errors else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    hot = sub.add_parser("hot", help="one hot lot, bids at every node")
    hot.add_argument("--bidders", type=int, default=300)
    hot.add_argument("--rate", type=float, default=1000.0)
    hot.add_argument(
        "--cold",
        dest="warmup",
        action="store_false",
        help="no bid a bidder before the window (each guest's first bid also saves the guest)",
    )
    fan = sub.add_parser("fanout", help="watchers on three nodes against one node")
    fan.add_argument("--watchers", type=int, default=600)
    fan.add_argument("--bidders", type=int, default=6)
    fan.add_argument("--rate", type=float, default=50.0)
    fan.add_argument("--idle", type=float, default=2.0, help="seconds of idle CPU read first")
    for p in (hot, fan):
        p.add_argument("--duration", type=float, default=10.0)
        p.add_argument("--runs", type=int, default=3)
        p.add_argument(
            "--layouts",
            nargs="+",
            default=["1", "3"],
            help="per run: N nodes, or N:M (clients on the first M); alternated in this order",
        )
        p.add_argument("--timeout", type=float, default=90.0, help="hard bound per run, s")
        p.add_argument("--postgres", default=PG)
        p.add_argument("--redis", default=REDIS)
        p.add_argument("--bidwire", type=Path, default=harness.BIDWIRE)
        p.add_argument("--out-dir", type=Path, default=BENCH / "results")
        p.add_argument("--profile", type=Path, default=None, help="py-spy every node, into here")
    ns = parser.parse_args(argv)
    for shape in ns.layouts:
        try:
            layout(shape)
        except ValueError as exc:
            parser.error(str(exc))
    if ns.duration > 60 or ns.runs > 10:
        parser.error("bounded: --duration at most 60 s and --runs at most 10")
    harness.raise_nofile()
    return cmd_hot(ns) if ns.command == "hot" else cmd_fanout(ns)


if __name__ == "__main__":
    sys.exit(main())
