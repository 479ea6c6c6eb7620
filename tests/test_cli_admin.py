"""`bidwire admin ...`: the first admin without editing a database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def admin(
    tmp_path: Path, *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    if password is not None:
        env["BIDWIRE_NEW_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "bidwire", "admin", *args, "--store", f"sqlite:///{tmp_path}/a.db"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_create_the_first_admin_then_list_and_block(tmp_path: Path) -> None:
    made = admin(tmp_path, "create-user", "root", "--admin", password="a long secret")
    assert made.returncode == 0, made.stderr
    assert "created root (admin)" in made.stdout
    assert "a long secret" not in made.stdout + made.stderr
    twice = admin(tmp_path, "create-user", "Root", password="another secret")
    assert twice.returncode == 1 and "taken" in twice.stderr and "Traceback" not in twice.stderr
    weak = admin(tmp_path, "create-user", "bob", password="short")
    assert weak.returncode == 1 and "8 to 256" in weak.stderr
    admin(tmp_path, "create-user", "carol", password="carol's secret")
    blocked = admin(tmp_path, "block", "carol")
    assert "carol is blocked" in blocked.stdout
    listing = admin(tmp_path, "users").stdout
    assert "root" in listing and "admin" in listing and "blocked" in listing


def test_the_audit_row_of_a_user_made_here_carries_the_time_it_was_made(tmp_path: Path) -> None:
    import sqlite3
    import time

    before = int(time.time() * 1000)
    assert (
        admin(tmp_path, "create-user", "root", "--admin", password="a long secret").returncode == 0
    )
    with sqlite3.connect(tmp_path / "a.db") as db:
        ((ts, actor, action),) = db.execute("SELECT ts, actor, action FROM audit").fetchall()
    assert (actor, action) == ("cli", "create-user")
    assert before <= ts <= int(time.time() * 1000)
