"""The first admin from the environment, then `bidwire admin ...` against the running server:
import a catalog (bad rows by line), start, withdraw, list bids with bidders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import JsonClient

GOOD = "title,starting_price\nClock,10\nLamp,20\n"
BAD = "title,starting_price\nClock,10\n,20\nLamp,-4\n"


def admin(
    server: Any, *args: str, password: str = "first admin pw"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_ADMIN_PASSWORD"] = password
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bidwire",
            "admin",
            *args,
            "--url",
            f"http://127.0.0.1:{server.http_port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_the_admin_commands_drive_a_running_server(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory(
        "--opening-seconds", "60", env={"BIDWIRE_ADMIN_PASSWORD": "first admin pw"}
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD)
    refused = admin(server, "import", str(bad))
    assert refused.returncode == 1
    assert "line 3" in refused.stderr and "line 4" in refused.stderr
    assert "Traceback" not in refused.stderr
    wrong = admin(server, "sale", "start", "x", password="not the password")
    assert wrong.returncode == 1 and "not_authenticated" in wrong.stderr

    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    made = admin(server, "import", str(good), "--start")
    assert made.returncode == 0, made.stderr
    sale_id = made.stdout.split("created ")[1].split()[0].rstrip(",")
    bidder = await JsonClient.connect(server.port, "vera")
    opened = await bidder.wait_for(lambda m: m["type"] in ("lot_opened", "snapshot"))
    lot = opened["lot"]
    reply = await bidder.request(
        {"type": "bid", "id": 1, "lot": lot, "amount": opened["min_amount"]}
    )
    assert reply["type"] == "bid_accepted"
    listed = admin(server, "bids", lot)
    assert "vera" in listed.stdout
    withdrawn = admin(server, "withdraw", lot)
    assert withdrawn.returncode == 0, withdrawn.stderr
    closed = await bidder.wait_for(lambda m: m["type"] == "lot_closed")
    assert closed["reason"] == "withdrawn" and closed["by"] == "admin"
    cancelled = admin(server, "sale", "cancel", sale_id)
    assert cancelled.returncode == 0, cancelled.stderr
    ended = await bidder.wait_for(lambda m: m["type"] == "sale_ended")
    assert ended["reason"] == "cancelled"
    await bidder.close()
