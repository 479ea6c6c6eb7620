"""bench/redis_bus.py, small: every event crosses from one bus to the other and the JSON holds
the figures. No timing is asserted here; speed is what the benchmark prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.test_loadgen import load
from tests.bus.redis_helpers import require_redis

redis_bus = load("redis_bus")


@pytest.mark.timeout(60)
def test_the_redis_bus_bench_hears_every_event_and_writes_its_figures(tmp_path: Path) -> None:
    url = require_redis()
    small = ["--runs", "1", "--events", "3000", "--rate", "500", "--seconds", "0.4"]
    small += ["--check-lots", "20"]
    result = redis_bus.main(["--redis", url, *small, "--out-dir", str(tmp_path)])
    run = result["runs"][0]
    assert run["throughput"]["heard"] == 3000 and run["throughput"]["dropped"] == 0
    assert run["latency"]["heard"] == run["latency"]["events"] == 200
    assert 0 < run["latency"]["median_ms"] <= run["latency"]["p99_ms"]
    assert result["summary"]["check"]["lots"] == 20  # and nothing reloaded: it asserts that
    (written,) = tmp_path.glob("redis-bus-*.json")
    assert json.loads(written.read_text())["summary"] == result["summary"]
