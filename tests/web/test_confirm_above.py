"""Point 1 of issue 12, the house limit: ``--confirm-above AMOUNT`` (BIDWIRE_CONFIRM_ABOVE), in
currency units read like every amount a person types, reaches clients in minor units in
``welcome.confirm_above`` and in GET /api/info (and /api/server); null when there is none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from web_helpers import TcpJson, WsJson, recv_until, running_server

from bidwire.settings import Settings

pytestmark = pytest.mark.timeout(60)


def test_the_limit_is_read_in_currency_units_from_flags_or_the_environment() -> None:
    assert Settings().confirm_above_minor is None
    assert Settings.build({"confirm_above": "1,000.50"}, env={}).confirm_above_minor == 100_050
    assert Settings.build({}, env={"BIDWIRE_CONFIRM_ABOVE": "250"}).confirm_above_minor == 25_000
    flag_wins = Settings.build({"confirm_above": "3"}, env={"BIDWIRE_CONFIRM_ABOVE": "250"})
    assert flag_wins.confirm_above_minor == 300
    yen = Settings.build({}, env={"BIDWIRE_CONFIRM_ABOVE": "5000", "BIDWIRE_CURRENCY": "JPY"})
    assert yen.confirm_above_minor == 5_000  # the house's currency says how many decimals


@pytest.mark.parametrize(
    ("typed", "said"),
    [("250,00", "unclear"), ("1e3", "exponent"), ("0", "more than zero"), ("lots", "not a number")],
)
def test_a_limit_that_is_not_an_amount_is_refused_in_words(typed: str, said: str) -> None:
    with pytest.raises(ValueError, match="confirm-above") as refused:
        Settings(confirm_above=typed)
    assert said in str(refused.value)


def test_serve_refuses_a_bad_limit_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIDWIRE_")}
    env["BIDWIRE_CONFIRM_ABOVE"] = "250,00"
    done = subprocess.run(
        [sys.executable, "-m", "bidwire", "serve", "--tcp-port", "0", "--store", "memory://"],
        env=env,
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert b"confirm-above" in done.stderr and b"250.00" in done.stderr
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize(("limit", "minor"), [("500", 50_000), ("", None)])
async def test_welcome_and_server_info_carry_the_limit(limit: str, minor: int | None) -> None:
    async with (
        running_server(confirm_above=limit) as ports,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports.http}") as http,
    ):
        for client in (await TcpJson.connect(ports.tcp), await WsJson.connect(ports.http)):
            await client.send({"type": "hello", "name": "carla"})
            welcome, _ = await recv_until(client, "welcome")
            assert "confirm_above" in welcome
            assert welcome["confirm_above"] == minor
            await client.close()
        for path in ("/api/info", "/api/server"):
            info = (await http.get(path)).json()
            assert "confirm_above" in info
            assert info["confirm_above"] == minor, path
