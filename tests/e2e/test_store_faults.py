"""The store failing under a real server: its files deleted, a second server on it, a full disk.

A full disk without root: the server runs in a user and mount namespace of its own with a small
tmpfs on a temporary directory; the test fills that tmpfs through ``/proc/PID/root`` and frees
it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import JsonClient, ServerProcess, write_catalog


def _unshare_works() -> bool:
    try:
        probe = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


needs_unshare = pytest.mark.skipif(
    not _unshare_works(), reason="unprivileged user and mount namespaces are refused here"
)


def on_small_disk(disk: Path, size: str, *, filled: bool = False) -> tuple[str, ...]:
    """A wrapper: mount a tmpfs of ``size`` on ``disk`` (filled to the brim first if asked),
    then exec the server, so its PID is the one we started."""
    fill = '(cat /dev/zero > "$2/fill") 2>/dev/null; ' if filled else ""
    script = f'mount -t tmpfs -o size="$1" tmpfs "$2" && {fill}shift 2 && exec "$@"'
    return ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", size)


def one_lot(tmp_path: Path) -> str:
    return write_catalog(tmp_path, [{"id": "w", "title": "Watch", "starting_price": 100}])


def failed_start(server: ServerProcess) -> tuple[int, str]:
    """Start a server that must refuse to: its exit code and everything it printed."""
    with pytest.raises(RuntimeError):
        server.start()
    assert server.proc is not None
    return server.proc.wait(timeout=10), server.output.decode(errors="replace").strip()


async def test_a_deleted_store_refuses_bids_and_health_says_so(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory("--catalog", one_lot(tmp_path), "--opening-seconds", "60")
    ann = await JsonClient.connect(server.port, "ann")
    bob = await JsonClient.connect(server.port, "bob")
    placed = await ann.request({"type": "bid", "id": 1, "lot": "w", "amount": 10_000})
    assert placed["type"] == "bid_accepted"
    for name in ("bidwire.db", "bidwire.db-wal", "bidwire.db-shm"):
        (tmp_path / name).unlink()
    refused = await bob.request({"type": "bid", "id": 2, "lot": "w", "amount": 20_000})
    assert (refused["type"], refused.get("code")) == ("bid_rejected", "unavailable"), refused
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
        health = await http.get("/healthz", timeout=10)
    assert health.status_code == 503
    assert health.json()["code"] == "unavailable"
    assert "is gone" in health.json()["message"], health.json()
    await ann.close()
    await bob.close()


def test_a_second_server_on_one_store_refuses_to_start(server_factory: Any, tmp_path: Path) -> None:
    first = server_factory()
    second = ServerProcess(tmp_path)
    try:
        code, printed = failed_start(second)
    finally:
        second.kill()
    assert code == 2
    assert printed == (
        f"bidwire: the store {tmp_path / 'bidwire.db'} is in use by another bidwire server"
        f" (pid {first.proc.pid})"
    )
    # the admin commands that write the store directly still share it with the server
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    listed = subprocess.run(
        [sys.executable, "-m", "bidwire", "admin", "users", "--store", first.store],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert listed.returncode == 0, listed.stderr
    first.kill()  # kill -9: the kernel lets go of the lock with the process
    assert server_factory().port


@needs_unshare
@pytest.mark.parametrize(
    ("size", "filled"), [("3m", False), ("1m", True)], ids=["wal-presize", "migrations"]
)
def test_starting_on_a_full_disk_says_so_in_one_line(
    tmp_path: Path, size: str, filled: bool
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    server = ServerProcess(
        tmp_path,
        store=f"sqlite:///{disk / 'bidwire.db'}",
        wrapper=(*on_small_disk(disk, size, filled=filled), str(disk)),
    )
    try:
        code, printed = failed_start(server)
    finally:
        server.kill()
    assert code == 2
    assert printed == (
        f"bidwire: cannot open the store {disk / 'bidwire.db'}: database or disk is full"
    )
