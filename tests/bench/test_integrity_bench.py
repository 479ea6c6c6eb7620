"""bench/integrity.py, small: one short pair of contention runs (the listener off and on, the
same build) and the scoring of a small sale; it writes its JSON. No timing is asserted here;
speed is what the benchmark prints. Also: the setting that turns the listener off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bidwire.settings import Settings
from tests.bench.test_loadgen import load

integrity = load("integrity")


def test_the_live_listener_is_a_setting_from_flags_and_the_environment() -> None:
    assert Settings.build({}, env={}).live_integrity is True
    assert Settings.build({}, env={"BIDWIRE_LIVE_INTEGRITY": "0"}).live_integrity is False
    assert Settings.build({"live_integrity": False}, env={}).live_integrity is False
    assert Settings.build({}, env={"BIDWIRE_INTEGRITY_THRESHOLD": "0.8"}).integrity_threshold == 0.8
    for bad in ("0", "1.5", "nan"):
        with pytest.raises(ValueError, match="integrity-threshold"):
            Settings.build({}, env={"BIDWIRE_INTEGRITY_THRESHOLD": bad})


def test_scoring_a_generated_sale_names_every_bidder() -> None:
    track = integrity.generated_sale(lots=5, bids=200, bidders=20)
    assert sum(lot.count for lot in track.lots.values()) == 200
    scored = integrity.score_sale(track, 10**13)
    assert 2 <= len(scored) <= 20


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_bench_runs_a_short_pair_on_and_off(tmp_path: Path) -> None:
    assert integrity.main(["--quick", "--out-dir", str(tmp_path)]) == 0
    (out,) = tmp_path.glob("integrity-quick-*.json")
    doc = json.loads(out.read_text())
    assert len(doc["runs"]["off"]) == len(doc["runs"]["on"]) == 1
    assert doc["ratios"][0]["cpu_on_over_off"]["median"] > 0
    assert doc["scoring"][0]["bids"] == 1_000


def test_profile_shares_count_the_analytics_and_the_http_stacks(tmp_path: Path) -> None:
    # py-spy's raw format: a folded stack, a space, its samples
    loop = "run (bidwire/app.py:216);_run_once (asyncio/base_events.py:1922)"
    ask = f"{loop};RequestResponseCycle.run_asgi (uvicorn/protocols/http/h11_impl.py:411)"
    (tmp_path / "on-1.txt").write_text(
        f"{loop};write (bidwire/transports/tcp.py:80) 90\n"
        f"{loop};_heard (bidwire/engine/integrity.py:500) 4\n"
        f"{ask};report_of (bidwire/engine/integrity.py:447) 5\n"
        f"{ask};send (uvicorn/protocols/http/h11_impl.py:490) 1\n"
    )
    (tmp_path / "poll-1.txt").write_text(f"{loop};x (y.py:1) 98\n{ask};healthz (z.py:2) 2\n")
    shares = integrity.profile_shares(tmp_path)
    assert shares["on"] == [{"samples": 100, "analytics": 0.09, "http": 0.06}]
    assert shares["poll"] == [{"samples": 100, "analytics": 0.0, "http": 0.02}]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_phased_bench_compares_watched_and_unwatched_phases_of_one_server(
    tmp_path: Path,
) -> None:
    argv = ["--quick", "--phases", "2", "--phase-seconds", "1.5", "--settle-seconds", "1"]
    assert integrity.main([*argv, "--out-dir", str(tmp_path)]) == 0
    (out,) = tmp_path.glob("integrity-quick-*.json")
    phased = json.loads(out.read_text())["phased"]
    assert [p["watching"] for p in phased["phases"]] == [1.0, 0.0, 1.0, 0.0]
    assert all(p["cpu"] > 0 for p in phased["phases"])  # the server worked in every phase
    assert len(phased["ratios"]) == 2 and phased["ratio"]["median"] > 0


def test_a_servers_cpu_is_read_from_its_threads(tmp_path: Path) -> None:
    import os
    import time

    before = integrity.server_cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert integrity.server_cpu_seconds(os.getpid()) - before >= 0.04
