"""Operating a real server process: JSON logs on request, the node's name, and a bad bus URL
refused at start in words."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import JsonClient, ServerProcess, write_catalog


async def test_json_logs_are_one_object_a_line_every_line(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path, [{"id": "w", "title": "Watch", "starting_price": 100}])
    server = ServerProcess(
        tmp_path,
        "--catalog",
        catalog,
        "--log-format",
        "json",
        "--node-name",
        "node-j",
        # a first admin made at start: a line from the logging module, not only announcements
        env={"BIDWIRE_ADMIN_PASSWORD": "a-long-admin-password"},
    )
    server.start()
    try:
        client = await JsonClient.connect(server.port, "ann")
        placed = await client.request({"type": "bid", "id": 1, "lot": "w", "amount": 10_000})
        assert placed["type"] == "bid_accepted"
        await client.close()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{json_http_port(server)}") as h:
            assert (await h.get("/api/info", timeout=10)).json()["node"] == "node-j"
        printed = server.terminate()
    finally:
        server.kill()
    lines = [json.loads(line) for line in printed.splitlines()]  # each one parses, or fails
    assert len(lines) >= 4
    for line in lines:
        assert {"ts", "level", "logger", "message", "node"} <= set(line), line
        assert line["node"] == "node-j"
    messages = [line["message"] for line in lines]
    listening = next(line for line in lines if line["message"].startswith("bidwire listening"))
    assert listening["tcp"] == server.port and listening["lots"] == 1
    assert "created the first admin, admin" in messages
    assert messages[-1] == "bidwire stopped"


def json_http_port(server: ServerProcess) -> int:
    """The HTTP port from the JSON listening line (``http_port`` reads the human one)."""
    for raw in server.output.decode().splitlines():
        line = json.loads(raw)
        if "http" in line:
            port: int = line["http"]
            return port
    raise AssertionError(f"no listening line in {server.output!r}")


async def test_the_default_node_name_is_the_host_and_the_http_port(server_factory: Any) -> None:
    server = server_factory(env={"BIDWIRE_ADMIN_PASSWORD": "a-long-admin-password"})
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
        info = (await http.get("/api/info", timeout=10)).json()
        ready = await http.get("/readyz", timeout=10)
    assert info["node"] == f"{socket.gethostname()}:{server.http_port}"
    assert ready.status_code == 200 and ready.json()["node"] == info["node"]
    # logged before the port was bound (it was 0): the host name alone
    (made,) = [line for line in server.output.decode().splitlines() if "first admin" in line]
    assert f" INFO bidwire [{socket.gethostname()}]: created the first admin, admin" in made


def test_a_bus_of_an_unknown_kind_is_refused_at_start_in_words(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bidwire",
            "serve",
            "--tcp-port",
            "0",
            "--http-port",
            "0",
            "--store",
            "memory://",
            "--bus",
            "nats://127.0.0.1:4222",
        ],
        env=env,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr
    assert done.stderr.decode().strip() == (
        "bidwire: unknown bus scheme 'nats' in 'nats://127.0.0.1:4222':"
        " use memory:// or redis:// or rediss://"
    )
