"""The only module that reads the real clock. Everything else is given ``now_ms``."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def work_timer() -> float:
    """Seconds on a monotonic high-resolution counter, for timing our own work (the feed's
    adaptive flush); never for deciding anything about a lot."""
    return time.perf_counter()


class FakeClock:
    """A clock tests move by hand; it never moves by itself."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        self._now += ms

    def set(self, now_ms: int) -> None:
        self._now = now_ms
