"""Benchmark harness: start a server, drive it with bench/loadgen.py, stop it, keep the figures.

The server and the generator are separate processes pinned to separate cores (server on
``--server-cpu``, generator on ``--gen-cpu``), so that each one's CPU time means something and
neither steals the other's core. Every process raises RLIMIT_NOFILE to its hard limit. Every run
is bounded: the server must say where it listens within 15 s, the generator has a hard timeout,
and the server is stopped by its PID (SIGTERM, then SIGKILL) whatever happened.

    python bench/harness.py baseline-fanout [--watchers 1000 --bidders 10 --rate 50
        --duration 10 --runs 3 --countdown 10] [--out-dir bench/results]
    python bench/harness.py bidwire-fanout --transport json|text|ws [same options]

prints one row per run and the median with its range, and writes everything to
``<out-dir>/<command>-<watchers>w-<UTC time>.json``. bidwire runs as
``bidwire serve --tcp-port 0 --http-port 0 --store sqlite:///<fresh tmp dir>/x.db --demo``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
LOADGEN = BENCH / "loadgen.py"
BASELINE = BENCH / "baseline" / "server.py"
BIDWIRE = Path(sys.executable).parent / "bidwire"
BIDWIRE_HELP = "another bidwire executable (fan-out then has no staleness from acceptance)"


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def usable(cpu: int | None) -> int | None:
    """``cpu`` if this machine lets us run there, else None (then nothing is pinned)."""
    return cpu if cpu is not None and cpu in os.sched_getaffinity(0) else None


def pinned(cmd: Sequence[str], cpu: int | None) -> list[str]:
    """``cmd`` started on one core. taskset rather than a preexec_fn: this process has threads
    (the output pumps), and a preexec_fn is not safe in a process with threads."""
    if usable(cpu) is None or shutil.which("taskset") is None:
        return list(cmd)
    return ["taskset", "-c", str(cpu), *cmd]


class Server:
    """A server subprocess whose listening port is read from its output."""

    def __init__(
        self,
        cmd: Sequence[str],
        port_pattern: str,
        cpu: int | None = None,
        ready_timeout: float = 15.0,
    ) -> None:
        self.cmd = list(cmd)
        self.port_pattern = re.compile(port_pattern)
        self.cpu = cpu
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []  # the last lines it printed, for error messages
        self.ports: tuple[int, ...] = ()

    def __enter__(self) -> Server:
        # exec'd by taskset, so the PID is the server's own.
        self.proc = subprocess.Popen(
            pinned(self.cmd, self.cpu),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        found = threading.Event()

        # Read in a thread: a readline() cannot time out, and the pipe must be drained for the
        # server's whole life or it blocks on a full pipe.
        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output = [*self.output[-50:], line.rstrip()]
                if not found.is_set() and (m := self.port_pattern.search(line)):
                    self.ports = tuple(int(g) for g in m.groups())
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(self.ready_timeout):
            self.stop()
            raise RuntimeError(f"server did not report its port: {self.output[-10:]}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_loadgen(args: Sequence[str], cpu: int | None, timeout: float) -> dict[str, Any]:
    """One generator run in its own process; returns its JSON report."""
    fd, name = tempfile.mkstemp(prefix="loadgen-", suffix=".json")
    os.close(fd)
    out = Path(name)
    cmd = [sys.executable, str(LOADGEN), "fanout", *args, "--json", str(out)]
    if usable(cpu) is not None:
        cmd += ["--cpu", str(cpu)]  # the generator pins itself before it opens anything
    try:
        # On timeout subprocess.run kills the generator (its own child, by PID) and raises.
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(out.read_text())  # type: ignore[no-any-return]
    finally:
        out.unlink(missing_ok=True)


def fanout_once(
    ns: argparse.Namespace,
    server_cmd: list[str],
    port_regex: str,
    target: str,
    port_group: int,
    acceptance_log: Path | None = None,
) -> dict[str, Any]:
    """Start the server, run one fanout against it, stop it."""
    with Server(server_cmd, port_regex, cpu=ns.server_cpu) as server:
        stamps = [f"--acceptance-log={acceptance_log}"] if acceptance_log else []
        gen_args = [
            *stamps,
            f"--target={target}",
            f"--port={server.ports[port_group]}",
            f"--watchers={ns.watchers}",
            f"--bidders={ns.bidders}",
            f"--rate={ns.rate}",
            f"--duration={ns.duration}",
            f"--server-pid={server.pid}",
            f"--timeout={ns.timeout}",
        ]
        # The generator bounds itself; this outer bound only catches a generator that hangs.
        return run_loadgen(gen_args, ns.gen_cpu, ns.timeout + 15)


def baseline_fanout_once(ns: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bidwire-bench-") as tmp:
        stamps = Path(tmp) / "accepted.log"
        server_cmd = [
            sys.executable,
            str(BASELINE),
            "--port=0",
            f"--countdown={ns.countdown}",
            # Only connection set-up depends on these two: a backlog that 500 simultaneous SYNs
            # do not overflow, and the first countdown held until every client is in.
            "--backlog=4096",
            f"--wait-clients={ns.watchers + ns.bidders}",
            f"--acceptance-log={stamps}",
        ]
        return fanout_once(ns, server_cmd, r"LISTENING (\d+)", "baseline", 0, stamps)


def bidwire_fanout_once(ns: argparse.Namespace) -> dict[str, Any]:
    """bidwire with its demo sale and a fresh SQLite store per run; with acceptance stamps
    (bench/stamped_bidwire.py) unless ``--bidwire`` names another executable."""
    with tempfile.TemporaryDirectory(prefix="bidwire-bench-") as tmp:
        stamps: Path | None = Path(tmp) / "accepted.log"
        if ns.bidwire is None:
            bidwire = [sys.executable, str(BENCH / "stamped_bidwire.py"), str(stamps)]
        else:
            bidwire, stamps = [str(ns.bidwire)], None
        server_cmd = [
            *bidwire,
            "serve",
            "--tcp-port=0",
            "--http-port=0",
            f"--store=sqlite:///{tmp}/x.db",
            "--demo",
            # every generator connection comes from 127.0.0.1: lift the per-address cap
            "--max-connections-per-address=20000",
        ]
        # "bidwire listening: tcp 127.0.0.1:P http 127.0.0.1:Q store ..."
        port_regex = r"listening: tcp \S+?:(\d+) http \S+?:(\d+)"
        port_group = 1 if ns.transport == "ws" else 0
        return fanout_once(ns, server_cmd, port_regex, ns.transport, port_group, stamps)


# -- reporting -----------------------------------------------------------------------------------

# (column title, path into a report, format)
COLUMNS: list[tuple[str, tuple[str, ...], str]] = [
    ("offered/s", ("bids", "offered_per_s"), "{:.1f}"),
    ("accepted/s", ("bids", "accepted_per_s"), "{:.1f}"),
    ("events/s", ("events", "delivered_per_s"), "{:.0f}"),
    ("stale p50 ms", ("staleness_ms", "p50"), "{:.2f}"),
    ("stale p99 ms", ("staleness_ms", "p99"), "{:.2f}"),
    ("stale max ms", ("staleness_ms", "max"), "{:.2f}"),
    ("acc p50 ms", ("staleness_from_acceptance_ms", "p50"), "{:.2f}"),
    ("acc p99 ms", ("staleness_from_acceptance_ms", "p99"), "{:.2f}"),
    ("missed", ("events", "missed"), "{:.0f}"),
    ("server cpu", ("server", "cpu_fraction"), "{:.0%}"),
    ("server RSS MiB", ("server", "rss_kib"), "{:.1f}"),
    ("gen cpu", ("generator", "cpu_fraction"), "{:.0%}"),
]


def lookup(report: dict[str, Any], path: Sequence[str]) -> float | None:
    """The number at ``path`` in a report, or None where any step is missing."""
    value: Any = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return None if value is None else float(value)


def median_at(reports: list[dict[str, Any]], path: Sequence[str]) -> dict[str, float | None]:
    """Median and range over the reports that have a number at ``path``."""
    return med([v for r in reports if (v := lookup(r, path)) is not None])


def pick(report: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value = lookup(report, path)
    if value is None:
        return None
    return value / 1024 if path[-1] == "rss_kib" else value


def summarize(reports: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Median and range of every column over the runs."""
    out: dict[str, dict[str, float | None]] = {}
    for title, path, _ in COLUMNS:
        out[title] = med([v for r in reports if (v := pick(r, path)) is not None])
    return out


def table(reports: list[dict[str, Any]], summary: dict[str, dict[str, float | None]]) -> str:
    def cell(fmt: str, value: float | None) -> str:
        return "-" if value is None else fmt.format(value)

    rows = [["run", *(title for title, _, _ in COLUMNS)]]
    for i, r in enumerate(reports, 1):
        bound = " (gen-bound)" if r["generator"]["generator_bound"] else ""
        rows.append([f"{i}{bound}", *(cell(f, pick(r, p)) for _, p, f in COLUMNS)])
    rows.append(["median", *(cell(f, summary[t]["median"]) for t, _, f in COLUMNS)])
    rows.append(
        [
            "range",
            *(f"{cell(f, summary[t]['min'])}..{cell(f, summary[t]['max'])}" for t, _, f in COLUMNS),
        ]
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


# -- the other scenarios: a catalog of our own, bench/scenarios.py as the generator ---------------

SCENARIOS = BENCH / "scenarios.py"


def write_catalog(path: Path, lots: int, quiet: bool) -> list[str]:
    """A timed sale of ``lots`` lots open side by side for an hour, increments of one minor
    unit (so racing bidders lose only to a race, never to an increment), plus a ``quiet`` lot
    nobody bids on, for connections that must not receive the busy lots' feed."""
    ids = ["hot"] if lots == 1 else [f"lot{i}" for i in range(lots)]
    rows = [
        {
            "id": lot_id,
            "title": lot_id,
            "starting_price": 1,
            "increment": "0.01",
            "opening_seconds": 3600,
            "extend_seconds": 3600,
        }
        for lot_id in ids
    ]
    if quiet:
        rows.append({**rows[0], "id": "quiet", "title": "quiet"})
    path.write_text(json.dumps({"sales": [{"title": "Bench", "mode": "timed", "lots": rows}]}))
    return ids


def bidwire_with_catalog(
    ns: argparse.Namespace, tmp: str, lots: int
) -> tuple[list[str], list[str]]:
    catalog = Path(tmp) / "catalog.json"
    ids = write_catalog(catalog, lots, quiet=True)
    cmd = [
        str(ns.bidwire),
        "serve",
        "--tcp-port=0",
        "--http-port=0",
        f"--store=sqlite:///{tmp}/x.db",
        "--no-demo",
        f"--catalog={catalog}",
        # the per-user abuse limits would refuse a load generator's bids: lifted for the bench
        "--bid-rate=1000000",
        "--bid-burst=1000000",
        "--max-connections-per-address=20000",
    ]
    return cmd, ids


def run_scenario(args: Sequence[str], cpu: int | None, timeout: float) -> dict[str, Any]:
    fd, name = tempfile.mkstemp(prefix="scenario-", suffix=".json")
    os.close(fd)
    out = Path(name)
    cmd = [sys.executable, str(SCENARIOS), *args, "--json", str(out), f"--timeout={timeout}"]
    if usable(cpu) is not None:
        cmd += ["--cpu", str(cpu)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 15)
        if done.returncode != 0:
            raise RuntimeError(f"scenario failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(out.read_text())  # type: ignore[no-any-return]
    finally:
        out.unlink(missing_ok=True)


PORT_REGEX = r"listening: tcp \S+?:(\d+) http \S+?:(\d+)"


def committed_bids(db: Path) -> int:
    """Bids' own rows in the store after the server stopped: what was durably committed (a
    bid_placed the house placed for a maximum answers no request; a raise is a max_raised)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM events WHERE (type = 'bid_placed'"
            " AND json_extract(CAST(body AS TEXT), '$.auto') IS NOT 1) OR type = 'max_raised'"
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def contention_once(ns: argparse.Namespace) -> list[dict[str, Any]]:
    """One server, every offered rate in turn against it (a fresh lot state is not needed:
    amounts keep rising), then the store is read to check acks == committed rows."""
    out: list[dict[str, Any]] = []
    max_share = getattr(ns, "max_share", 0.0)
    step = getattr(ns, "step", 1)
    max_share_headroom = 10 if max_share else 0  # past the last maximum: the next rate is free
    with tempfile.TemporaryDirectory(prefix="bidwire-bench-") as tmp:
        cmd, _ = bidwire_with_catalog(ns, tmp, 1)
        watching = getattr(ns, "watch", None)
        with (
            Server(cmd, PORT_REGEX, cpu=ns.server_cpu) as server,
            watching(server) if watching is not None else contextlib.nullcontext(),
        ):
            start = 100
            for rate in ns.rates:
                r = run_scenario(
                    [
                        "contention",
                        f"--port={server.ports[0]}",
                        f"--bidders={ns.bidders}",
                        f"--rate={rate}",
                        f"--duration={ns.duration}",
                        f"--server-pid={server.pid}",
                        f"--start-amount={start}",
                        f"--name-prefix=r{rate}-",
                        f"--step={step}",
                        f"--max-share={max_share}",
                    ],
                    ns.gen_cpu,
                    ns.timeout,
                )
                start += (r["bids"]["offered"] + 10) * step + max_share_headroom
                out.append(r)
        acked = sum(r["bids"]["accepted_total"] for r in out)
        committed = committed_bids(Path(tmp) / "x.db")
        for r in out:
            r["durable_check"] = {"acked_total": acked, "committed_rows": committed}
    return out


def cmd_contention_max(ns: argparse.Namespace) -> int:
    """Plain contention and contention with a share of maximums, alternated in pairs on the
    same machine at the same time (it is noisy): committed bids/s of each and their ratio."""
    runs: dict[str, list[list[dict[str, Any]]]] = {"plain": [], "max": []}
    errors: list[str] = []
    share = ns.max_share
    for pair in range(ns.pairs):
        for kind, max_share in (("plain", 0.0), ("max", share)):
            one = argparse.Namespace(**{**vars(ns), "max_share": max_share})
            try:
                runs[kind].append(contention_once(one))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                errors.append(f"pair {pair + 1} {kind}: {exc}")
                print(errors[-1], file=sys.stderr)
    if not runs["plain"] or not runs["max"]:
        return 1
    summary = {kind: summarize_contention(rs) for kind, rs in runs.items()}
    ratios = []
    for i, rate in enumerate(ns.rates):
        pairs = [  # each max run against the plain run just before it
            m[i]["bids"]["accepted_per_s"] / max(p[i]["bids"]["accepted_per_s"], 1e-9)
            for p, m in zip(runs["plain"], runs["max"], strict=False)
        ]
        ratios.append({"rate": rate, "max_over_plain": med(pairs)})
    print(
        f"contention, plain vs {share:g} of bids with a maximum: {ns.bidders} bidders, one lot,"
        f" {ns.duration:g} s a rate, {len(runs['max'])} pair(s) alternated; median (range)"
    )
    for kind in ("plain", "max"):
        print(f"\n{kind}:")
        print(print_contention(summary[kind]))
    for r in ratios:
        print(
            f"rate {r['rate']:g}: committed/s, max / plain ="
            f" {cell_range(r['max_over_plain'], '{:.3f}')}"
        )
    save(
        ns,
        f"contention-max{share:g}",
        {"summary": summary, "ratios": ratios, "runs": runs, "errors": errors},
    )
    return 0 if not errors else 1


def manylots_once(ns: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bidwire-bench-") as tmp:
        cmd, ids = bidwire_with_catalog(ns, tmp, ns.lots)
        with Server(cmd, PORT_REGEX, cpu=ns.server_cpu) as server:
            return run_scenario(
                [
                    "manylots",
                    f"--port={server.ports[0]}",
                    f"--bidders={ns.bidders}",
                    f"--lots={','.join(ids)}",
                    f"--rate={ns.rate}",
                    f"--duration={ns.duration}",
                    f"--server-pid={server.pid}",
                ],
                ns.gen_cpu,
                ns.timeout,
            )


def connections_once(ns: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bidwire-bench-") as tmp:
        cmd, _ = bidwire_with_catalog(ns, tmp, 1)
        with Server(cmd, PORT_REGEX, cpu=ns.server_cpu) as server:
            return run_scenario(
                [
                    "connections",
                    f"--transport={ns.transport}",
                    f"--port={server.ports[1 if ns.transport == 'ws' else 0]}",
                    f"--connections={ns.connections}",
                    f"--hold={ns.hold}",
                    f"--server-pid={server.pid}",
                ],
                ns.gen_cpu,
                ns.timeout,
            )


def med(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def cell_range(stats: dict[str, float | None], fmt: str = "{:.1f}") -> str:
    if stats["median"] is None:
        return "-"
    return f"{fmt.format(stats['median'])} ({fmt.format(stats['min'])}..{fmt.format(stats['max'])})"


def summarize_contention(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for i, rate in enumerate(r["config"]["rate"] for r in runs[0]):
        at = [run[i] for run in runs if i < len(run)]

        def col(*path: str, at: list[dict[str, Any]] = at) -> dict[str, float | None]:
            return median_at(at, path)

        rows.append(
            {
                "rate": rate,
                "offered_per_s": col("bids", "offered_per_s"),
                "accepted_per_s": col("bids", "accepted_per_s"),
                "ack_p50_ms": col("ack_ms", "p50"),
                "ack_p99_ms": col("ack_ms", "p99"),
                "ack_max_ms": col("ack_ms", "max"),
                "server_cpu": col("server", "cpu_fraction"),
                "gen_cpu": col("generator", "cpu_fraction"),
                "gen_bound_runs": sum(r["generator"]["generator_bound"] for r in at),
                "durable": all(
                    r["durable_check"]["acked_total"] == r["durable_check"]["committed_rows"]
                    for r in at
                ),
            }
        )
    return rows


def print_contention(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| offered target/s | offered/s | accepted (committed)/s | ack p50 ms | ack p99 ms |"
        " ack max ms | server cpu | gen cpu | acks == rows |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        bound = f" ({r['gen_bound_runs']} gen-bound)" if r["gen_bound_runs"] else ""
        lines.append(
            f"| {r['rate']:g} | {cell_range(r['offered_per_s'], '{:.0f}')} |"
            f" {cell_range(r['accepted_per_s'], '{:.0f}')} |"
            f" {cell_range(r['ack_p50_ms'], '{:.2f}')} | {cell_range(r['ack_p99_ms'], '{:.2f}')} |"
            f" {cell_range(r['ack_max_ms'], '{:.1f}')} | {cell_range(r['server_cpu'], '{:.2f}')} |"
            f" {cell_range(r['gen_cpu'], '{:.2f}')}{bound} | {'yes' if r['durable'] else 'NO'} |"
        )
    return "\n".join(lines)


def save(ns: argparse.Namespace, title: str, doc: dict[str, Any]) -> Path:
    ns.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = Path(ns.out_dir) / f"{title}-{stamp}.json"
    doc = {
        "command": title,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(ns).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
        },
        **doc,
    }
    path.write_text(json.dumps(doc, indent=2))
    print(f"wrote {path}")
    return path


def repeat(ns: argparse.Namespace, once: Any) -> tuple[list[Any], list[str]]:
    done: list[Any] = []
    errors: list[str] = []
    for i in range(ns.runs):
        try:
            done.append(once(ns))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            errors.append(f"run {i + 1}: {exc}")
            print(errors[-1], file=sys.stderr)
    return done, errors


def cmd_contention(ns: argparse.Namespace) -> int:
    runs, errors = repeat(ns, contention_once)
    if not runs:
        return 1
    rows = summarize_contention(runs)
    print(
        f"contention: {ns.bidders} bidders, one lot, closed loop, {ns.duration:g} s a rate,"
        f" {len(runs)} run(s); median (range)"
    )
    print(print_contention(rows))
    save(ns, "contention", {"summary": rows, "runs": runs, "errors": errors})
    return 0 if not errors else 1


def one_line(
    title: str, runs: list[dict[str, Any]], cols: list[tuple[str, tuple[str, ...], str]]
) -> str:
    head = "| " + " | ".join(["scenario", *(c[0] for c in cols)]) + " |"
    sep = "| " + " | ".join(["---"] * (len(cols) + 1)) + " |"
    cells = [cell_range(median_at(runs, path), fmt) for _, path, fmt in cols]
    return "\n".join([head, sep, "| " + " | ".join([title, *cells]) + " |"])


MANYLOTS_COLS: list[tuple[str, tuple[str, ...], str]] = [
    ("offered/s", ("bids", "offered_per_s"), "{:.0f}"),
    ("accepted/s", ("bids", "accepted_per_s"), "{:.0f}"),
    ("ack p50 ms", ("ack_ms", "p50"), "{:.2f}"),
    ("ack p99 ms", ("ack_ms", "p99"), "{:.2f}"),
    ("stale p50 ms", ("staleness_ms", "p50"), "{:.2f}"),
    ("stale p99 ms", ("staleness_ms", "p99"), "{:.2f}"),
    ("missed", ("missed",), "{:.0f}"),
    ("server cpu", ("server", "cpu_fraction"), "{:.2f}"),
    ("server RSS KiB", ("server", "rss_kib"), "{:.0f}"),
    ("gen cpu", ("generator", "cpu_fraction"), "{:.2f}"),
]

CONNECTIONS_COLS: list[tuple[str, tuple[str, ...], str]] = [
    ("asked", ("asked",), "{:.0f}"),
    ("held", ("held",), "{:.0f}"),
    ("failed", ("failed",), "{:.0f}"),
    ("RSS before KiB", ("server_before", "rss_kib"), "{:.0f}"),
    ("RSS after KiB", ("server_after", "rss_kib"), "{:.0f}"),
    ("KiB per connection", ("rss_per_conn_kib",), "{:.2f}"),
    ("connect s", ("connect_s",), "{:.1f}"),
]


def cmd_manylots(ns: argparse.Namespace) -> int:
    runs, errors = repeat(ns, manylots_once)
    if not runs:
        return 1
    title = f"manylots {ns.lots} lots, {ns.bidders} bidders, {ns.rate:g} bids/s"
    print(f"{title}, {len(runs)} run(s); median (range)")
    print(one_line("manylots", runs, MANYLOTS_COLS))
    save(ns, f"manylots-{ns.lots}l", {"runs": runs, "errors": errors})
    return 0 if not errors else 1


def cmd_connections(ns: argparse.Namespace) -> int:
    runs, errors = repeat(ns, connections_once)
    if not runs:
        return 1
    print(f"connections over {ns.transport}, {len(runs)} run(s); median (range)")
    print(one_line(f"idle {ns.transport}", runs, CONNECTIONS_COLS))
    save(ns, f"connections-{ns.transport}-{ns.connections}", {"runs": runs, "errors": errors})
    return 0 if not errors else 1


def cmd_fanout_compare(ns: argparse.Namespace) -> int:
    """Baseline and bidwire runs alternated, so that both see the same noise."""
    reports: dict[str, list[dict[str, Any]]] = {"baseline": [], ns.transport: []}
    errors: list[str] = []
    for i in range(ns.runs):
        for kind, once in (("baseline", baseline_fanout_once), (ns.transport, bidwire_fanout_once)):
            if kind == "baseline" and ns.no_baseline:
                continue
            try:
                reports[kind].append(once(ns))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                errors.append(f"{kind} run {i + 1}: {exc}")
                print(errors[-1], file=sys.stderr)
    summaries = {}
    for kind, rs in reports.items():
        if not rs:
            continue
        summaries[kind] = summarize(rs)
        print(
            f"{kind}: {ns.watchers} watchers, {ns.bidders} bidders, {ns.rate:g} bids/s,"
            f" {ns.duration:g} s, {len(rs)} run(s)"
        )
        print(table(rs, summaries[kind]))
    save(
        ns,
        f"fanout-{ns.transport}-{ns.watchers}w-{ns.rate:g}bps",
        {"summary": summaries, "runs": reports, "errors": errors},
    )
    return 0 if summaries and not errors else 1


def suite(full: bool) -> int:
    """``make bench`` (quick, under 3 minutes) and ``make bench-full``."""
    py = sys.executable
    me = str(Path(__file__).resolve())
    started = time.monotonic()
    if full:
        steps = [
            ["fanout-compare", "--transport=json", "--watchers=1000", "--runs=3"],
            ["fanout-compare", "--transport=text", "--watchers=1000", "--runs=3", "--no-baseline"],
            ["fanout-compare", "--transport=ws", "--watchers=1000", "--runs=3", "--no-baseline"],
            ["fanout-compare", "--transport=json", "--watchers=5000", "--runs=3"],
            ["fanout-compare", "--transport=json", "--watchers=10000", "--runs=3"],
            [
                "fanout-compare",
                "--transport=ws",
                "--watchers=10000",
                "--rate=10",
                "--runs=3",
                "--no-baseline",
            ],
            ["contention", "--runs=3"],
            ["contention-max", "--pairs=3", "--rates", "1000", "20000"],
            ["connections", "--transport=json", "--connections=19000", "--runs=3"],
            ["connections", "--transport=ws", "--connections=19000", "--runs=3"],
            ["manylots", "--runs=3"],
        ]
    else:
        steps = [
            ["fanout-compare", "--transport=json", "--watchers=1000", "--runs=3", "--duration=5"],
            ["contention", "--runs=3", "--duration=2", "--rates", "1000", "20000"],
            ["connections", "--transport=json", "--connections=5000", "--runs=3", "--hold=1"],
        ]
    failed = 0
    for step in steps:
        print(f"\n== harness.py {' '.join(step)}", flush=True)
        failed += subprocess.run([py, me, *step]).returncode != 0
    print(f"\nsuite done in {time.monotonic() - started:.0f} s; {failed} step(s) failed")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bidwire benchmark harness")
    sub = parser.add_subparsers(dest="command", required=True)
    base = sub.add_parser("baseline-fanout", help="the original design under fan-out load")
    base.add_argument("--countdown", type=float, default=10.0, help="the per-bid timer")
    bw = sub.add_parser("bidwire-fanout", help="bidwire (--demo, fresh SQLite) under fan-out load")
    bw.add_argument("--transport", choices=("json", "text", "ws"), default="json")
    bw.add_argument("--bidwire", type=Path, default=None, help=BIDWIRE_HELP)
    for p in (base, bw):
        p.add_argument("--watchers", type=int, default=1000)
        p.add_argument("--bidders", type=int, default=10)
        p.add_argument("--rate", type=float, default=50.0, help="bids/s offered in total")
        p.add_argument("--duration", type=float, default=10.0)
        p.add_argument("--runs", type=int, default=3)
        p.add_argument("--timeout", type=float, default=120.0, help="hard bound per run, s")
        p.add_argument("--server-cpu", type=int, default=0)
        p.add_argument("--gen-cpu", type=int, default=1)
        p.add_argument("--out-dir", type=Path, default=BENCH / "results")
    cmp = sub.add_parser("fanout-compare", help="baseline and bidwire runs, alternated")
    cmp.add_argument("--transport", choices=("json", "text", "ws"), default="json")
    cmp.add_argument("--countdown", type=float, default=10.0)
    cmp.add_argument("--no-baseline", action="store_true")
    con = sub.add_parser("contention", help="1,000 bidders racing on one lot, closed loop")
    con.add_argument("--bidders", type=int, default=1000)
    con.add_argument("--rates", type=float, nargs="+", default=[1000, 5000, 10000, 20000])
    cmx = sub.add_parser("contention-max", help="contention plain vs with maximums, alternated")
    cmx.add_argument("--bidders", type=int, default=1000)
    cmx.add_argument("--rates", type=float, nargs="+", default=[20000])
    cmx.add_argument("--max-share", type=float, default=0.5)
    cmx.add_argument("--pairs", type=int, default=3)
    cmx.add_argument("--step", type=int, default=2, help="amount step (>= 2 increments)")
    many = sub.add_parser("manylots", help="a timed sale of many lots, bidders spread over it")
    many.add_argument("--lots", type=int, default=1000)
    many.add_argument("--bidders", type=int, default=5000)
    many.add_argument("--rate", type=float, default=1000.0)
    conn = sub.add_parser("connections", help="idle connections held at once; RSS each")
    conn.add_argument("--transport", choices=("json", "ws"), default="json")
    conn.add_argument("--connections", type=int, default=19000)
    conn.add_argument("--hold", type=float, default=2.0)
    for p in (cmp,):
        p.add_argument("--watchers", type=int, default=1000)
        p.add_argument("--bidders", type=int, default=10)
        p.add_argument("--rate", type=float, default=50.0)
    for p in (cmp, con, cmx, many, conn):
        if p is cmp:
            p.add_argument("--bidwire", type=Path, default=None, help=BIDWIRE_HELP)
        else:
            p.add_argument("--bidwire", type=Path, default=BIDWIRE)
        p.add_argument("--duration", type=float, default=10.0 if p is cmp else 5.0)
        p.add_argument("--runs", type=int, default=3)
        p.add_argument("--timeout", type=float, default=120.0)
        p.add_argument("--server-cpu", type=int, default=0)
        p.add_argument("--gen-cpu", type=int, default=1)
        p.add_argument("--out-dir", type=Path, default=BENCH / "results")
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] in ("--quick", "--full"):
        raise_nofile()
        return suite(argv[0] == "--full")
    ns = parser.parse_args(argv)

    raise_nofile()
    handlers = {
        "fanout-compare": cmd_fanout_compare,
        "contention": cmd_contention,
        "contention-max": cmd_contention_max,
        "manylots": cmd_manylots,
        "connections": cmd_connections,
    }
    if ns.command in handlers:
        return handlers[ns.command](ns)
    once = baseline_fanout_once if ns.command == "baseline-fanout" else bidwire_fanout_once
    title = ns.command if ns.command == "baseline-fanout" else f"{ns.command}-{ns.transport}"
    reports: list[dict[str, Any]] = []
    errors: list[str] = []
    for i in range(ns.runs):
        try:
            reports.append(once(ns))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            errors.append(f"run {i + 1}: {exc}")
            print(errors[-1], file=sys.stderr)
    summary = summarize(reports)
    if reports:
        print(
            f"{title}: {ns.watchers} watchers, {ns.bidders} bidders,"
            f" {ns.rate:g} bids/s, {ns.duration:g} s, {len(reports)} run(s)"
        )
        print(table(reports, summary))

    ns.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = ns.out_dir / f"{title}-{ns.watchers}w-{stamp}.json"
    doc = {
        "command": title,
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(ns).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
        },
        "summary": summary,
        "runs": reports,
        "errors": errors,
    }
    path.write_text(json.dumps(doc, indent=2))
    print(f"wrote {path}")
    return 0 if reports and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
