"""A PostgreSQL server of a test's own, to stop and start again: initdb in a temporary
directory, ``postgres`` on a free loopback port, ended by its PID (never by name).

As root it runs as the ``postgres`` user (initdb refuses root), in a directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.store.pg import skip_or_fail

BIN = Path("/usr/lib/postgresql/15/bin")
START_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OwnPostgres:
    def __init__(self) -> None:
        if not (BIN / "initdb").exists():
            skip_or_fail(f"no PostgreSQL server binaries in {BIN}")
        self.user: str | None = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="bidwire-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
            user=self.user,
        )

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [
                BIN / "postgres",
                "-D",
                self.data,
                "-p",
                str(self.port),
                "-k",
                self.dir,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=20",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "log", "ab"),  # noqa: SIM115 (kept by the child)
            user=self.user,
        )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
                capture_output=True,
                timeout=10,
            )
            if ready.returncode == 0:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        log = (self.dir / "log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"our postgres did not start on {self.port}: {log}")

    def stop(self, how: signal.Signals = signal.SIGQUIT) -> None:
        """SIGQUIT: an immediate shutdown, every connection cut, as a crash would."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(how)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
