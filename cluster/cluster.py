"""`make cluster`: three bidwire nodes and HAProxy in front of them, on loopback, against the
machine's PostgreSQL (the truth) and Redis (the bus).

    python cluster/cluster.py [--nodes 3] [--tcp-port 65432] [--http-port 8000]
        [--node-tcp-ports 65441,65442,65443] [--node-http-ports 8001,8002,8003]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--schema bidwire_cluster]
        [--redis redis://127.0.0.1:6379/0] [--channel bidwire_cluster]
        [--catalog FILE] [--print-config] [-- more bidwire serve flags]

It runs in the foreground: it starts the nodes (each its own ports; 0 lets the node pick), then
HAProxy with a config written from cluster/haproxy.cfg.in, prints where to connect once the
balancer answers, and on Ctrl-C (or SIGTERM) stops what it started, by PID: HAProxy first (no
new clients), then the nodes (SIGTERM, a clean stop that releases their leases at once;
SIGKILL after 10 s). Its children run in process groups of their own, so a Ctrl-C at the
terminal reaches this script only and the order above holds.

Only the standard library: it runs under the project's venv (for bidwire) but needs nothing
more than HAProxy on the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "haproxy.cfg.in"
LISTENING = re.compile(r"bidwire listening: tcp \S+?:(\d+) http \S+?:(\d+)")
START_S = 30.0  # a node's start (migrations, the demo) and the balancer's first 200
STOP_S = 10.0  # a node's clean stop before SIGKILL
# Every connection through the balancer comes from its address: the per-address cap a node
# keeps against one abusive host would otherwise cap the whole house at 5,000 per node.
PER_ADDRESS = 20_000


@dataclass
class Node:
    name: str
    tcp_port: int
    http_port: int


def haproxy_config(
    host: str, tcp_port: int, http_port: int, nodes: Sequence[Node], maxconn: int = 40_000
) -> str:
    """The balancer's config: TCP to every node's TCP port and HTTP (WebSockets included) to
    every node's HTTP port, each server checked by its node's /readyz."""
    if not nodes:
        raise ValueError("a cluster needs at least one node")
    tcp = [f"    server {n.name} {host}:{n.tcp_port} check port {n.http_port}" for n in nodes]
    http = [f"    server {n.name} {host}:{n.http_port} check" for n in nodes]
    return Template(TEMPLATE.read_text()).substitute(
        host=host,
        tcp_port=tcp_port,
        http_port=http_port,
        maxconn=maxconn,
        tcp_servers="\n".join(tcp),
        http_servers="\n".join(http),
    )


def with_query(url: str, **options: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


def store_url(postgres: str, schema: str) -> str:
    """Every node names the same schema (made by the first that opens it) and takes "now" from
    the database, so that nodes with different clocks agree on every deadline."""
    return with_query(postgres, schema=schema, db_clock="1")


def bus_url(redis: str, channel: str) -> str:
    """One channel per cluster; the shared limits take the channel as their key prefix."""
    return with_query(redis, channel=channel)


def node_command(
    node: Node, host: str, store: str, bus: str, catalog: str | None, extra: Sequence[str]
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bidwire",
        "serve",
        f"--host={host}",
        f"--tcp-port={node.tcp_port}",
        f"--http-port={node.http_port}",
        f"--store={store}",
        f"--bus={bus}",
        f"--node-name={node.name}",
        f"--max-connections-per-address={PER_ADDRESS}",
        *([f"--catalog={catalog}", "--no-demo"] if catalog else ["--demo"]),
        *extra,
    ]


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers(url: str, default_port: int) -> str | None:
    """None when something listens at the URL's host and port, else why not, in words."""
    parts = urlsplit(url)
    where = (parts.hostname or "127.0.0.1", parts.port or default_port)
    try:
        socket.create_connection(where, timeout=2).close()
    except OSError as exc:
        return f"nothing answers at {where[0]}:{where[1]} ({exc.strerror or exc})"
    return None


def maxconn() -> int:
    """As many connections as this machine lets HAProxy hold (two descriptors each, one to the
    client, one to a node), at most 40,000; the soft limit raised to the hard one first, for
    every child."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return max(100, min(40_000, (hard - 200) // 2))


def find_haproxy() -> str | None:
    # Debian puts it in /usr/sbin, which a user's PATH often lacks
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


@dataclass
class Child:
    """A process this script started, its output copied to ours under its name."""

    label: str
    proc: subprocess.Popen[str]
    ports: tuple[int, ...] = ()
    listening: threading.Event = field(default_factory=threading.Event)
    tail: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, label: str, cmd: Sequence[str], quiet: bool) -> Child:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            list(cmd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            process_group=0,  # the terminal's Ctrl-C is ours to hand on, in order
        )
        child = cls(label, proc)
        threading.Thread(target=child._pump, args=(quiet,), daemon=True).start()
        return child

    def _pump(self, quiet: bool) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.tail = [*self.tail[-20:], line]
            if not self.listening.is_set() and (m := LISTENING.search(line)):
                self.ports = (int(m[1]), int(m[2]))
                self.listening.set()
            if not quiet:
                print(f"[{self.label}] {line}", flush=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = STOP_S) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(5)


class Failed(Exception):
    """A start that cannot go on, said in words."""


def wait_ready(url: str, children: Sequence[Child], timeout: float) -> None:
    """Until ``url`` answers 200 through the balancer (some node is ready behind it)."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        for child in children:
            if not child.alive():
                raise Failed(f"{child.label} stopped: " + " | ".join(child.tail[-5:]))
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise Failed(f"the balancer did not answer 200 at {url} within {timeout:g} s: {last}")


def parse_ports(text: str, count: int, what: str) -> list[int]:
    ports = [int(p) for p in text.split(",") if p.strip()] if text else [0] * count
    if len(ports) != count:
        raise Failed(f"{what}: {count} ports wanted (one a node), got {len(ports)}")
    return ports


def run(ns: argparse.Namespace, extra: Sequence[str]) -> int:
    host = ns.host
    tcp_ports = parse_ports(ns.node_tcp_ports, ns.nodes, "--node-tcp-ports")
    http_ports = parse_ports(ns.node_http_ports, ns.nodes, "--node-http-ports")
    front_tcp = ns.tcp_port or free_port(host)
    front_http = ns.http_port or free_port(host)
    if ns.print_config:
        preview = [
            Node(f"n{i + 1}", t, h)
            for i, (t, h) in enumerate(zip(tcp_ports, http_ports, strict=True))
        ]
        print(haproxy_config(host, front_tcp, front_http, preview), end="")
        return 0
    haproxy = ns.haproxy or find_haproxy()
    if haproxy is None:
        raise Failed(
            "HAProxy is not installed: `make cluster` installs it (apt-get install haproxy)"
        )
    for url, port, what in ((ns.postgres, 5432, "PostgreSQL"), (ns.redis, 6379, "Redis")):
        if (why := answers(url, port)) is not None:
            raise Failed(f"{what} is needed and {why}: start it (Debian: service ... start)")

    store, bus = store_url(ns.postgres, ns.schema), bus_url(ns.redis, ns.channel)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children: list[Child] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bidwire-cluster-") as tmp:
            for i in range(ns.nodes):
                node = Node(f"n{i + 1}", tcp_ports[i], http_ports[i])
                cmd = node_command(node, host, store, bus, ns.catalog, extra)
                children.append(Child.start(node.name, cmd, ns.quiet))
            deadline = time.monotonic() + START_S
            nodes: list[Node] = []
            for child in children:
                while not child.listening.wait(0.2):
                    if not child.alive() or time.monotonic() > deadline or stop.is_set():
                        raise Failed(f"{child.label} did not start: " + " | ".join(child.tail[-8:]))
                nodes.append(Node(child.label, *child.ports))
            config = Path(tmp) / "haproxy.cfg"
            config.write_text(haproxy_config(host, front_tcp, front_http, nodes, maxconn()))
            checked = subprocess.run(
                [haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30
            )
            if checked.returncode != 0:
                raise Failed(f"HAProxy refused its config: {checked.stdout}{checked.stderr}")
            balancer = Child.start("haproxy", [haproxy, "-db", "-f", str(config)], ns.quiet)
            children.insert(0, balancer)
            wait_ready(f"http://{host}:{front_http}/readyz", children, START_S)
            print(f"bidwire cluster ready: tcp {host}:{front_tcp} http http://{host}:{front_http}/")
            print(f"  haproxy pid {balancer.proc.pid}, config {config}")
            for node, child in zip(nodes, children[1:], strict=True):
                print(
                    f"  {node.name} pid {child.proc.pid}:"
                    f" tcp {host}:{node.tcp_port} http {host}:{node.http_port}"
                )
            print(f"  store {store}\n  bus {bus}")
            print(
                f"  try: nc {host} {front_tcp}   or open http://{host}:{front_http}/ ;"
                " kill -9 a node's pid to watch another take its sales. Ctrl-C stops it all.",
                flush=True,
            )
            told: set[str] = set()
            while not stop.wait(0.2):
                if not balancer.alive():
                    raise Failed("haproxy stopped: " + " | ".join(balancer.tail[-5:]))
                for child in children[1:]:
                    if not child.alive() and child.label not in told:
                        told.add(child.label)
                        print(
                            f"{child.label} stopped (exit {child.proc.returncode}); the others"
                            " go on and take its sales",
                            flush=True,
                        )
        return 0
    finally:
        for child in children:  # the balancer first: no new client meets a stopping node
            child.stop()
        print("bidwire cluster stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, extra = args[:at], args[at + 1 :]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tcp-port", type=int, default=65432, help="the balancer's TCP port")
    p.add_argument("--http-port", type=int, default=8000, help="the balancer's HTTP port")
    p.add_argument("--node-tcp-ports", default="65441,65442,65443", help="0s: nodes pick")
    p.add_argument("--node-http-ports", default="8001,8002,8003")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--schema", default="bidwire_cluster")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--channel", default="bidwire_cluster")
    p.add_argument("--catalog", default=None, help="serve this catalog instead of the demo")
    p.add_argument("--haproxy", default=None, help="the haproxy executable")
    p.add_argument("--quiet", action="store_true", help="do not copy the nodes' output")
    p.add_argument("--print-config", action="store_true", help="print HAProxy's config, exit")
    ns = p.parse_args(args)
    if ns.nodes < 1:
        p.error("--nodes: at least 1")
    if ns.nodes != 3 and ns.node_tcp_ports == p.get_default("node_tcp_ports"):
        ns.node_tcp_ports = ns.node_http_ports = ""  # the defaults are for three: let nodes pick
    try:
        return run(ns, extra)
    except Failed as exc:
        print(f"make cluster: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
