"""Real server processes on free ports with temporary stores, and small clients for them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

LISTENING = re.compile(rb"bidwire listening: tcp [\d.]+:(\d+)")


class ServerProcess:
    """``bidwire serve`` in a child process; we end only this PID."""

    def __init__(
        self,
        tmp: Path,
        *args: str,
        store: str | None = None,
        env: dict[str, str] | None = None,
        wrapper: tuple[str, ...] = (),
    ) -> None:
        self.wrapper = wrapper
        """A command the server runs under (it must exec it: the PID stays the server's)."""
        self.extra_env = env or {}
        self.tmp = tmp
        self.store = store or f"sqlite:///{tmp / 'bidwire.db'}"
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.output = b""

    def start(self, timeout: float = 15.0) -> ServerProcess:
        cmd = [
            *self.wrapper,
            sys.executable,
            "-m",
            "bidwire",
            "serve",
            "--host",
            "127.0.0.1",
            "--tcp-port",
            "0",
            "--http-port",
            "0",
            "--store",
            self.store,
            *self.args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=self.tmp
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output += line
            match = LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                return self
        self.kill()
        raise RuntimeError(f"server did not start: {self.output.decode(errors='replace')}")

    def terminate(self, timeout: float = 15.0) -> str:
        """SIGTERM and wait: the clean stop. Returns what the server printed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout)
        self.output += out
        return self.output.decode(errors="replace")

    @property
    def http_port(self) -> int:
        return int(self.output.decode().split(" http 127.0.0.1:")[1].split()[0])

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def make(
        *args: str, store: str | None = None, env: dict[str, str] | None = None
    ) -> ServerProcess:
        server = ServerProcess(tmp_path, *args, store=store, env=env)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.kill()


def write_catalog(tmp: Path, lots: list[dict[str, Any]], mode: str = "live") -> str:
    path = tmp / "catalog.json"
    path.write_text(json.dumps({"sales": [{"title": "Test sale", "mode": mode, "lots": lots}]}))
    return str(path)


def check_stream(received: bytes, lot: str) -> list[dict[str, Any]]:
    """What one connection received: every line whole JSON, and the lot's seqs consecutive
    except where a snapshot starts them again (conflation). Returns the messages."""
    messages = [json.loads(line) for line in received.splitlines()]
    next_seq = None
    for m in messages:
        if m.get("lot") != lot:
            continue
        if m["type"] == "snapshot":
            next_seq = m["seq"]
        if next_seq is not None:
            assert m["seq"] == next_seq, f"{m} out of order (expected seq {next_seq})"
        next_seq = m["seq"] + 1
    return messages


class Received:
    """What a client heard, kept whole: waiting for a message, a request's answer, a lot's
    events. A subclass reads its connection in ``_read`` and says how it ``send``s."""

    LOT_KINDS: tuple[str, ...] = ("lot_opened", "bid_placed", "lot_extended", "lot_closed")

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        raise NotImplementedError

    async def send(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._task.done()

    async def wait_for(
        self, predicate: Any, timeout: float = 10.0, start: int = 0
    ) -> dict[str, Any]:
        async def scan() -> dict[str, Any]:
            index = start
            while True:
                while index < len(self.messages):
                    if predicate(self.messages[index]):
                        return self.messages[index]
                    index += 1
                if self.closed:
                    raise ConnectionError("closed before the message came")
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def request(self, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        start = len(self.messages)
        await self.send(message)
        return await self.wait_for(lambda m: m.get("id") == message["id"], timeout, start)

    def lot_events(self, lot: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("lot") == lot and m["type"] in self.LOT_KINDS]


class JsonClient(Received):
    """A JSON-lines client that keeps every message it receives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        super().__init__()

    @classmethod
    async def connect(cls, port: int, name: str | None = None) -> JsonClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        client = cls(reader, writer)
        if name is not None:
            await client.send({"type": "hello", "name": name})
            await client.wait_for(lambda m: m["type"] == "welcome")
        return client

    async def _read(self) -> None:
        while True:
            line = await self.reader.readline()
            if not line:
                break
            if line.lstrip().startswith(b"{"):
                self.messages.append(json.loads(line))
                self._arrived.set()
        self._arrived.set()

    async def send(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()


class TextClient:
    """Text mode, as a person at nc sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.lines: list[str] = []
        self._cursor = 0

    @classmethod
    async def connect(cls, port: int) -> TextClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def expect(self, pattern: str, timeout: float = 10.0) -> str:
        """The next line (after the last one matched) that matches ``pattern``."""

        async def scan() -> str:
            while True:
                while self._cursor < len(self.lines):
                    line = self.lines[self._cursor]
                    self._cursor += 1
                    if re.search(pattern, line):
                        return line
                raw = await self.reader.readline()
                if not raw:
                    raise ConnectionError(f"closed before {pattern!r}; saw {self.lines[-5:]}")
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise AssertionError(f"no line matched {pattern!r}; last: {self.lines[-6:]}") from None

    async def say(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
