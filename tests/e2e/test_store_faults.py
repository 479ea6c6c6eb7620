"""The store failing under a real server: its files deleted, a second server on it, a full disk.

A full disk without root: the server runs in a user and mount namespace of its own with a small
tmpfs on a temporary directory; the test fills that tmpfs through ``/proc/PID/root`` and frees
it again.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import threading
import time
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


async def test_a_deleted_store_refuses_bids_and_readiness_says_so(
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
        ready = await http.get("/readyz", timeout=10)
        health = await http.get("/healthz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["code"] == "unavailable"
    (reason,) = ready.json()["reasons"]
    assert reason.startswith("store: the store file ") and "is gone" in reason, reason
    # alive all the same: the process answers, and a restart would not bring the file back
    assert (health.status_code, health.json()["status"]) == (200, "ok")
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


class Output:
    """Every line a server prints, read as it comes (a full pipe would stall the server and
    hide a spin), with when it came."""

    def __init__(self, server: ServerProcess) -> None:
        assert server.proc is not None and server.proc.stdout is not None
        self.lines: list[tuple[float, str]] = []
        self._stream = server.proc.stdout
        self._arrived = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self._stream:
            with self._arrived:
                self.lines.append((time.monotonic(), raw.decode(errors="replace")))
                self._arrived.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        with self._arrived:
            seen = self._arrived.wait_for(
                lambda: any(text in line for _, line in self.lines), timeout
            )
        assert seen, f"no line with {text!r} in {timeout} s; last: {self.lines[-5:]}"

    def complaints_between(self, start: float, end: float) -> list[str]:
        return [
            line
            for at, line in self.lines
            if start <= at <= end and (" WARNING " in line or " ERROR " in line)
        ]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill_up(path: Path) -> None:
    with path.open("wb", buffering=0) as sink:  # unbuffered: nothing left to fail at close
        for chunk in (bytes(2**20), bytes(4096), bytes(512)):
            try:
                while True:
                    sink.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc


@needs_unshare
@pytest.mark.timeout(90)
async def test_a_full_disk_neither_spins_nor_floods_the_log_and_the_sale_recovers(
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    catalog = write_catalog(
        tmp_path,
        [
            {"id": "a", "title": "First", "starting_price": 1},
            {"id": "b", "title": "Second", "starting_price": 1},
        ],
    )
    server = ServerProcess(
        tmp_path,
        "--catalog",
        catalog,
        "--opening-seconds",
        "3",
        "--lot-gap-seconds",
        "0.2",
        "--extend-seconds",
        "2",
        # no WAL pre-size, so the WAL grows with each commit and meets the full disk at once
        "--synchronous",
        "NORMAL",
        store=f"sqlite:///{disk / 'bidwire.db'}",
        wrapper=(*on_small_disk(disk, "8m"), str(disk)),
    )
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        output = Output(server)
        watcher = await JsonClient.connect(server.port, "watcher")
        await watcher.wait_for(lambda m: m.get("lot") == "a" and m.get("state", "open") == "open")
        filler = Path(f"/proc/{pid}/root{disk}/fill")
        fill_up(filler)

        output.wait_for("reloaded from the store", timeout=15)  # the close could not commit
        start, cpu_before = time.monotonic(), cpu_seconds(pid)
        await asyncio.sleep(3)  # the span we measure, not a wait for an event
        end, cpu_after = time.monotonic(), cpu_seconds(pid)
        share = (cpu_after - cpu_before) / (end - start)
        complaints = output.complaints_between(start, end)
        assert share < 0.3, f"the server used {share:.0%} of a core with a full disk"
        assert len(complaints) <= 4, complaints[:5]
        assert not any(m["type"] == "lot_closed" for m in watcher.messages)

        filler.unlink()  # the space comes back
        # its deadline passed while nothing could commit: a fresh window first, as after a
        # restart (engine/house.py), then the close at its end
        extended = await watcher.wait_for(lambda m: m["type"] == "lot_extended", timeout=10)
        assert extended["lot"] == "a" and extended["reason"] == "restart"
        closed = await watcher.wait_for(lambda m: m["type"] == "lot_closed", timeout=10)
        assert closed["lot"] == "a"
        await watcher.wait_for(lambda m: m["type"] == "lot_opened" and m["lot"] == "b")
        bid = {"type": "bid", "id": "after", "lot": "b", "amount": 100}
        placed = await watcher.request(bid)
        assert placed["type"] == "bid_accepted", placed
        await watcher.close()
    finally:
        server.kill()
