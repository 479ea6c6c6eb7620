"""`make cluster` (cluster/cluster.py): the balancer's config it writes, and, where HAProxy,
PostgreSQL and Redis are on the machine, the whole thing on free ports (three nodes in a schema
and a channel of this test's own, HAProxy in front): a bid through the balancer's TCP port and
one through its HTTP port (a WebSocket), each heard across the nodes, then a Ctrl-C that stops
every process it started."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.bus.redis_helpers import delete_keys, free_port, require_redis
from tests.e2e.conftest import JsonClient, write_catalog
from tests.store.pg import SERVER, drop_schema, skip_or_fail, why_not

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "cluster" / "cluster.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bidwire_cluster_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def haproxy() -> str | None:
    found: str | None = load_script().find_haproxy()
    return found


def test_the_config_sends_each_port_to_every_node_checked_by_its_readiness() -> None:
    cluster = load_script()
    nodes = [cluster.Node("n1", 7001, 8101), cluster.Node("n2", 7002, 8102)]
    text = cluster.haproxy_config("127.0.0.1", 6000, 6001, nodes, maxconn=500)
    tcp, http = text.split("frontend bidwire_tcp")[1].split("frontend bidwire_http")
    assert "bind 127.0.0.1:6000" in tcp and "mode tcp" in tcp
    assert "bind 127.0.0.1:6001" in http and "mode http" in http
    # the TCP servers are checked on their node's HTTP port: /readyz, not a bare connect
    assert re.findall(r"server (n\d) 127\.0\.0\.1:(\d+) check port (\d+)", tcp) == [
        ("n1", "7001", "8101"),
        ("n2", "7002", "8102"),
    ]
    assert re.findall(r"server (n\d) 127\.0\.0\.1:(\d+) check\n", http + "\n") == [
        ("n1", "8101"),
        ("n2", "8102"),
    ]
    assert text.count("option httpchk GET /readyz") == 2 and "maxconn 500" in text
    assert "$" not in text  # every placeholder filled
    with pytest.raises(ValueError, match="at least one node"):
        cluster.haproxy_config("127.0.0.1", 1, 2, [])


def test_the_nodes_share_one_store_schema_with_the_database_clock_and_one_channel() -> None:
    cluster = load_script()
    store = cluster.store_url("postgresql://postgres@127.0.0.1:5432/postgres", "bidwire_cluster")
    bus = cluster.bus_url("redis://127.0.0.1:6379/0", "bidwire_cluster")
    assert store.endswith("/postgres?schema=bidwire_cluster&db_clock=1")
    assert bus == "redis://127.0.0.1:6379/0?channel=bidwire_cluster"
    cmd = cluster.node_command(
        cluster.Node("n2", 0, 0), "127.0.0.1", store, bus, None, ["--extend-seconds=5"]
    )
    assert f"--store={store}" in cmd and f"--bus={bus}" in cmd and "--node-name=n2" in cmd
    assert "--demo" in cmd and cmd[-1] == "--extend-seconds=5"


def test_print_config_writes_what_haproxy_accepts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--print-config", "--tcp-port=6000", "--http-port=6001"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "bind 127.0.0.1:6000" in done.stdout
    assert "server n3 127.0.0.1:65443 check port 8003" in done.stdout  # the default ports
    executable = haproxy()
    if executable is None:
        pytest.skip("HAProxy is not installed: its check of the config is skipped")
    config = tmp_path / "haproxy.cfg"
    config.write_text(done.stdout)
    checked = subprocess.run(
        [executable, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_missing_service_is_said_in_words(tmp_path: Path) -> None:
    if haproxy() is None:
        pytest.skip("HAProxy is not installed")
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tcp-port=0", "--http-port=0", f"--postgres={nowhere}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "PostgreSQL is needed and nothing answers" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


class Script:
    """cluster/cluster.py running, its output read in a task: we end only its PID."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.ready = asyncio.Event()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            # the banner's last line: the pids printed before it are all read
            if "Ctrl-C stops it all" in self.lines[-1] or "make cluster:" in self.lines[-1]:
                self.ready.set()
        self.ready.set()

    def pids(self) -> dict[str, int]:
        out = {}
        for line in self.lines:
            if m := re.match(r"\s+(\w+) pid (\d+)", line):
                out[m[1]] = int(m[2])
        return out


@pytest.fixture
async def cluster_names() -> AsyncIterator[str]:
    """A schema and a channel (the limits' key prefix too) of this test's own, removed after."""
    if haproxy() is None:
        skip_or_fail("HAProxy is not installed")
    redis_url = require_redis()
    if (reason := await why_not()) is not None:
        skip_or_fail(reason)
    name = f"bw_test_{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        await drop_schema(SERVER, name)
        await delete_keys(redis_url, f"{name}:*")


async def bid_until_accepted(send: Any, amount: int) -> dict[str, Any]:
    """The first answer that is not the cluster still settling (no owner of the sale yet)."""
    deadline = time.monotonic() + 15
    while True:
        answer: dict[str, Any] = await send(amount)
        if answer["type"] == "bid_accepted" or time.monotonic() > deadline:
            return answer
        if answer.get("code") not in ("unavailable", "lot_not_open"):
            return answer
        await asyncio.sleep(0.2)


async def test_three_nodes_behind_haproxy_take_bids_at_both_ports_and_ctrl_c_stops_all(
    tmp_path: Path, cluster_names: str
) -> None:
    catalog = write_catalog(tmp_path, [{"id": "w", "title": "Watch", "starting_price": 100}])
    tcp_port, http_port = free_port(), free_port()
    cmd = [
        sys.executable,
        str(SCRIPT),
        f"--tcp-port={tcp_port}",
        f"--http-port={http_port}",
        "--node-tcp-ports=0,0,0",
        "--node-http-ports=0,0,0",
        f"--schema={cluster_names}",
        f"--channel={cluster_names}",
        f"--postgres={SERVER}",
        f"--redis={require_redis()}",
        f"--catalog={catalog}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    script = Script(proc)
    try:
        async with asyncio.timeout(60):
            await script.ready.wait()
        assert any("bidwire cluster ready" in line for line in script.lines), script.lines[-30:]
        pids = script.pids()
        assert set(pids) == {"haproxy", "n1", "n2", "n3"}, script.lines

        ann = await JsonClient.connect(tcp_port, "ann")
        bids = iter(range(1, 100))

        async def by_tcp(amount: int) -> dict[str, Any]:
            k = next(bids)
            request = {"type": "bid", "id": k, "lot": "w", "amount": amount}
            return await ann.request(request)

        first = await bid_until_accepted(by_tcp, 10_000)
        assert first["type"] == "bid_accepted", first

        from websockets.asyncio.client import connect

        async with connect(f"ws://127.0.0.1:{http_port}/ws", compression=None, proxy=None) as ws:
            await ws.send(json.dumps({"type": "hello", "name": "bob"}))

            async def by_ws(amount: int) -> dict[str, Any]:
                k = next(bids)
                await ws.send(json.dumps({"type": "bid", "id": k, "lot": "w", "amount": amount}))
                while True:
                    message: dict[str, Any] = json.loads(await ws.recv())
                    if message.get("id") == k and message["type"].startswith("bid_"):
                        return message

            async with asyncio.timeout(20):
                second = await bid_until_accepted(by_ws, 12_000)
        assert second["type"] == "bid_accepted", second
        assert second["seq"] > first["seq"]
        # ann, on whichever node the balancer gave it, hears bob's bid from whichever node his
        heard = await ann.wait_for(
            lambda m: m.get("type") == "bid_placed" and m["amount"] == 12_000
        )
        assert heard["seq"] == second["seq"] and heard["bidder"] == "bob"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
            info = await http.get("/api/info", timeout=10)
        assert info.status_code == 200
        await ann.close()

        proc.send_signal(signal.SIGINT)  # what Ctrl-C at the terminal sends it
        async with asyncio.timeout(30):
            code = await proc.wait()
            await script.task
        assert code == 0, script.lines[-20:]
        assert script.lines[-1] == "bidwire cluster stopped"
        for name, pid in pids.items():
            assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) outlived the script"
        printed = "\n".join(script.lines)
        assert "Traceback" not in printed and printed.count("bidwire stopped") == 3
    finally:
        if proc.returncode is None:
            # the script stops what it started (even mid-start, before it printed their PIDs);
            # a SIGKILL would leave its children running, in process groups of their own
            proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
            for pid in script.pids().values():
                if Path(f"/proc/{pid}").exists():
                    os.kill(pid, signal.SIGKILL)
