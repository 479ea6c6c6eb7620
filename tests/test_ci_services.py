""".ci/services.sh: what CI does when PostgreSQL or Redis is not running, run against commands
of the test's own (the machine's services are never stopped or started here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[1] / ".ci" / "services.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def ensure(tmp_path: Path, steps: str, call: str) -> subprocess.CompletedProcess[str]:
    """``steps`` defines the check, start and install functions; ``call`` runs ensure_service."""
    script = f"set -euo pipefail\n. {SERVICES}\nSERVICE_WAIT_SECONDS=1\n{steps}\n{call}\n"
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )


def test_a_service_that_cannot_be_started_fails_the_run_in_words(tmp_path: Path) -> None:
    done = ensure(
        tmp_path,
        "down() { false; }\nbroken() { echo 'no such service' >&2; return 1; }\n"
        "never() { touch installed; }",
        "ensure_service Demo down broken never bash",
    )
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "ci: Demo is not running and could not be started (broken); its tests are required"
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "installed").exists()  # bash is there: nothing to install


def test_a_stopped_service_is_started_and_waited_for(tmp_path: Path) -> None:
    done = ensure(
        tmp_path,
        "up() { [ -e started ]; }\nstart() { (sleep 0.3; touch started) & }\nnever() { false; }",
        "ensure_service Demo up start never bash",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["ci: Demo is not running; starting it", "ci: Demo started"]


def test_a_running_service_is_left_alone(tmp_path: Path) -> None:
    done = ensure(
        tmp_path,
        "up() { true; }\nstart() { touch started; }\nnever() { touch installed; }",
        "ensure_service Demo up start never bash",
    )
    assert done.returncode == 0
    assert done.stdout.strip() == "ci: Demo is running"
    assert not (tmp_path / "started").exists()


def test_a_missing_program_is_installed_first_and_a_failed_install_says_so(
    tmp_path: Path,
) -> None:
    done = ensure(
        tmp_path,
        "down() { false; }\nstart() { true; }\nfails() { return 1; }",
        "ensure_service Demo down start fails no-such-program-anywhere",
    )
    assert done.returncode == 1
    assert "ci: Demo is not installed; installing it" in done.stdout
    assert done.stderr.strip() == "ci: Demo is not installed and could not be installed (fails)"


def test_the_machine_s_services_are_seen_as_they_are(tmp_path: Path) -> None:
    """The real checks, read only: whatever they say matches pg_isready and redis-cli."""
    if shutil.which("pg_isready") is None or shutil.which("redis-cli") is None:
        pytest.skip("pg_isready or redis-cli is not installed")
    for check, program in (
        ("postgres_up", ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]),
        ("redis_up", None),
    ):
        ours = ensure(tmp_path, "", f"{check}").returncode == 0
        if program is not None:
            theirs = subprocess.run(program, timeout=10).returncode == 0
        else:
            ping = subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            theirs = ping.stdout.strip() == "PONG"
        assert ours == theirs, check


DEBIAN_HBA = """\
# Database administrative login by Unix domain socket
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD

# "local" is for Unix domain socket connections only
local   all             all                                     peer
# IPv4 local connections:
host    all             all             127.0.0.1/32            scram-sha-256
# IPv6 local connections:
host    all             all             ::1/128                 scram-sha-256
# Allow replication connections from localhost, by a user that
# has the replication privilege.
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
"""


def test_a_fresh_installs_hba_trusts_loopback_tcp_and_nothing_else(tmp_path: Path) -> None:
    """What install_postgres does to Debian's pg_hba.conf (as PostgreSQL 15 installs it): the
    tests' TCP connections from 127.0.0.1 and ::1 need no password; the socket, replication
    and every other address keep their methods."""
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(DEBIAN_HBA)
    done = ensure(tmp_path, "", f"trust_loopback {hba}")
    assert done.returncode == 0, done.stderr
    changed = [
        (before, after)
        for before, after in zip(DEBIAN_HBA.splitlines(), hba.read_text().splitlines(), strict=True)
        if before != after
    ]
    assert [after.split() for _, after in changed] == [
        ["host", "all", "all", "127.0.0.1/32", "trust"],
        ["host", "all", "all", "::1/128", "trust"],
    ], changed
