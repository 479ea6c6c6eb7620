"""The session 4 comparison table from the JSON here: old and new bidwire, alternated.

python bench/results/session4-compare/summ.py
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def shown(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def series(who: str, pattern: str, pick: Callable[[dict[str, Any]], float]) -> list[float]:
    return [pick(json.loads(path.read_text())) for path in sorted((HERE / who).glob(pattern))]


def at_rate(rate: int, field: str) -> Callable[[dict[str, Any]], float]:
    def pick(run: dict[str, Any]) -> float:
        row = next(r for r in run["summary"] if r["rate"] == rate)
        return float(row[field]["median"])

    return pick


def fanout(field: str) -> Callable[[dict[str, Any]], float]:
    return lambda run: float(run["summary"][field]["median"])


FIGURES = {
    "committed/s at 20,000 offered": ("contention-*.json", at_rate(20000, "accepted_per_s")),
    "ack p50 ms at 1,000 offered": ("contention-*.json", at_rate(1000, "ack_p50_ms")),
    "ack p99 ms at 1,000 offered": ("contention-*.json", at_rate(1000, "ack_p99_ms")),
    "fan-out stale p50 ms": ("bidwire-fanout-*.json", fanout("stale p50 ms")),
    "fan-out stale p99 ms": ("bidwire-fanout-*.json", fanout("stale p99 ms")),
    "fan-out server cpu": ("bidwire-fanout-*.json", fanout("server cpu")),
}

if __name__ == "__main__":
    for name, (pattern, pick) in FIGURES.items():
        old, new = series("old", pattern, pick), series("new", pattern, pick)
        pairs = [n / o for n, o in zip(new, old, strict=True) if o]
        print(f"{name}: old {shown(old)}  new {shown(new)}  new/old per pair {shown(pairs)}")
