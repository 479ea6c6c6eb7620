"""Redis for the bus tests: the machine's (skipped when it does not answer, unless
BIDWIRE_REQUIRE_SERVICES is set) or a redis-server of the test's own, to stop and restart.

Every test names its own channel (random per run), so nothing another test or process publishes
is heard, and pub/sub leaves no key behind to clean up.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REDIS_URL = os.environ.get("BIDWIRE_TEST_REDIS", "redis://127.0.0.1:6379/0")
REDIS_SERVER = shutil.which("redis-server")


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis() -> str:
    """The shared Redis's URL, or skip (fail in CI) when it does not answer."""
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    if not answers(parts.hostname or "127.0.0.1", parts.port or 6379):
        message = f"no Redis answers at {REDIS_URL}"
        if os.environ.get("BIDWIRE_REQUIRE_SERVICES"):
            pytest.fail(message + " (BIDWIRE_REQUIRE_SERVICES is set)")
        pytest.skip(message)
    return REDIS_URL


def channel_url(base: str, **more: str) -> str:
    """``base`` with a channel of its own and any other bus option."""
    query = "&".join(f"{k}={v}" for k, v in {"channel": fresh_channel(), **more}.items())
    return f"{base}{'&' if '?' in base else '?'}{query}"


def fresh_channel() -> str:
    return f"bidwire-test-{secrets.token_hex(6)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnRedis:
    """A redis-server of the test's own, on a free loopback port in a temporary directory,
    that the test may kill, stop and start again on the same port. Ended by its PID only."""

    def __init__(self, directory: Path) -> None:
        if REDIS_SERVER is None:
            if os.environ.get("BIDWIRE_REQUIRE_SERVICES"):
                pytest.fail("redis-server is not installed (BIDWIRE_REQUIRE_SERVICES is set)")
            pytest.skip("redis-server is not installed")
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER is not None
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - kept by the process
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not answers("127.0.0.1", self.port, 0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {self.directory}/redis.log")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def resume_if_paused(self) -> None:
        """A stopped process cannot be killed cleanly from a test's teardown otherwise."""
        if self.paused and self.process is not None:
            self.resume()


async def delete_keys(url: str, pattern: str) -> None:
    """Delete the keys matching ``pattern`` on the Redis at ``url`` (what a test's channel
    left: its shared limits' keys), and nothing else."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=pattern, count=1_000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
