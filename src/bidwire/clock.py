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


def wall_seconds() -> float:
    """Seconds since the epoch as a float, to measure how long an event took between nodes
    (the bus's lag, with whatever skew their clocks have); never for deciding anything."""
    return time.time()


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


class OffsetClock:
    """Another clock moved by ``offset_ms``: a node of a cluster keeps the offset to the
    database's clock (engine/cluster.py measures it), so every node decides by one time. It
    never goes backwards when the offset is corrected: a lot's times only rise."""

    def __init__(self, base: Clock, offset_ms: int = 0) -> None:
        self.base = base
        self.offset_ms = offset_ms
        self._last = 0

    def now_ms(self) -> int:
        now = self.base.now_ms() + self.offset_ms
        if now < self._last:
            return self._last
        self._last = now
        return now

    def not_before(self, ms: int) -> None:
        """Never tell a time before ``ms`` again (a sale taken over: its last event's time,
        told by another node's clock, which may run a little ahead of this one's)."""
        self._last = max(self._last, ms)
