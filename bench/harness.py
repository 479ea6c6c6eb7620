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
    ns: argparse.Namespace, server_cmd: list[str], port_regex: str, target: str, port_group: int
) -> dict[str, Any]:
    """Start the server, run one fanout against it, stop it."""
    with Server(server_cmd, port_regex, cpu=ns.server_cpu) as server:
        gen_args = [
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
    server_cmd = [
        sys.executable,
        str(BASELINE),
        "--port=0",
        f"--countdown={ns.countdown}",
        # Only connection set-up depends on these two: a backlog that 500 simultaneous SYNs do
        # not overflow, and the first countdown held until every client is in.
        "--backlog=4096",
        f"--wait-clients={ns.watchers + ns.bidders}",
    ]
    return fanout_once(ns, server_cmd, r"LISTENING (\d+)", "baseline", 0)


def bidwire_fanout_once(ns: argparse.Namespace) -> dict[str, Any]:
    """bidwire with its demo sale and a fresh SQLite store per run."""
    with tempfile.TemporaryDirectory(prefix="bidwire-bench-") as tmp:
        server_cmd = [
            str(ns.bidwire),
            "serve",
            "--tcp-port=0",
            "--http-port=0",
            f"--store=sqlite:///{tmp}/x.db",
            "--demo",
        ]
        # "bidwire listening: tcp 127.0.0.1:P http 127.0.0.1:Q store ..."
        port_regex = r"listening: tcp \S+?:(\d+) http \S+?:(\d+)"
        port_group = 1 if ns.transport == "ws" else 0
        return fanout_once(ns, server_cmd, port_regex, ns.transport, port_group)


# -- reporting -----------------------------------------------------------------------------------

# (column title, path into a report, format)
COLUMNS: list[tuple[str, tuple[str, ...], str]] = [
    ("offered/s", ("bids", "offered_per_s"), "{:.1f}"),
    ("accepted/s", ("bids", "accepted_per_s"), "{:.1f}"),
    ("events/s", ("events", "delivered_per_s"), "{:.0f}"),
    ("stale p50 ms", ("staleness_ms", "p50"), "{:.2f}"),
    ("stale p99 ms", ("staleness_ms", "p99"), "{:.2f}"),
    ("stale max ms", ("staleness_ms", "max"), "{:.2f}"),
    ("missed", ("events", "missed"), "{:.0f}"),
    ("server cpu", ("server", "cpu_fraction"), "{:.0%}"),
    ("server RSS MiB", ("server", "rss_kib"), "{:.1f}"),
    ("gen cpu", ("generator", "cpu_fraction"), "{:.0%}"),
]


def pick(report: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return None
    return value / 1024 if path[-1] == "rss_kib" else float(value)


def summarize(reports: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Median and range of every column over the runs."""
    out: dict[str, dict[str, float | None]] = {}
    for title, path, _ in COLUMNS:
        values = [v for r in reports if (v := pick(r, path)) is not None]
        out[title] = {
            "median": statistics.median(values) if values else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
        }
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bidwire benchmark harness")
    sub = parser.add_subparsers(dest="command", required=True)
    base = sub.add_parser("baseline-fanout", help="the original design under fan-out load")
    base.add_argument("--countdown", type=float, default=10.0, help="the per-bid timer")
    bw = sub.add_parser("bidwire-fanout", help="bidwire (--demo, fresh SQLite) under fan-out load")
    bw.add_argument("--transport", choices=("json", "text", "ws"), default="json")
    bw.add_argument("--bidwire", type=Path, default=Path(sys.executable).parent / "bidwire")
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
    ns = parser.parse_args(argv)

    raise_nofile()
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
