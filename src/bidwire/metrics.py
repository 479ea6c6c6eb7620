"""The numbers a node tells Prometheus, kept cheaply on the bid path (pure: no I/O, no clock).

Principles:
- The bid path only adds to plain ints and lists (``Histogram.observe``: a bisect and two
  additions, no lock); prometheus_client's own ``Counter.inc`` takes a lock per call. The
  exposition (bidwire/node.py) reads these numbers at scrape time through a custom collector
  and hands them to prometheus_client, which writes its text format.
- Everything that can be read when asked (connections, queue depths) is read at scrape time,
  never kept up to date per event.
- Every number is changed on the loop thread, and every scrape reads it there: no lock.
- Hooks for what a node grows with several nodes: the bus fills its own ``lag`` histogram
  (publish to heard; the memory bus never does, so it stays at 0), and the lease code calls
  :func:`lease_changed`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

COMMIT_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Seconds from a bid's append to its commit: fractions of a millisecond on SQLite with
synchronous=OFF, a few with fsync, more across a network to PostgreSQL."""
FANOUT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
"""Seconds from an event heard to its bytes handed to every connection: one loop turn when
idle, a paced flush's wait under load (transports/broadcast.py, FlushPacer)."""
BUS_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds from a publish on one node to the event heard on another."""

BID_REFUSAL_CODES = (
    "too_low",
    "already_leading",
    "lot_not_open",
    "unknown_lot",
    "bad_amount",
    "bad_request",
    "not_authenticated",
    "forbidden",
    "rate_limited",
    "unavailable",
)
"""The wire codes a bid may be refused with (docs/protocol.md), each shown from the start at 0
so that a rate over them is defined before the first refusal; another code appears when seen."""
LEASE_CHANGES = ("acquired", "renewed", "lost", "released")


class Histogram:
    """A Prometheus histogram as plain numbers: ``observe`` costs about 0.1 µs and no lock.

    ``counts[i]`` counts the values at most ``bounds[i]`` and above the bound before; the last
    one those above every bound (``+Inf``). Made cumulative at scrape time."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("histogram bounds must be distinct and increasing")
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        """The sum of every value observed."""

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_many(self, value: float, times: int) -> None:
        """``times`` values of ``value`` (each event of a batch that waited as long)."""
        self.counts[bisect_left(self.bounds, value)] += times
        self.total += value * times

    @property
    def count(self) -> int:
        return sum(self.counts)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ``+Inf`` last: the exposition's buckets."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


class LeaseCounter:
    """Lease changes of this process, by kind (``acquired``, ``renewed``, ``lost``,
    ``released``): the lease code calls :func:`lease_changed`, which needs no wiring (one node
    per process; a test reads the difference it made)."""

    def __init__(self) -> None:
        self.changes: dict[str, int] = dict.fromkeys(LEASE_CHANGES, 0)

    def changed(self, change: str) -> None:
        self.changes[change] = self.changes.get(change, 0) + 1


LEASES = LeaseCounter()


def lease_changed(change: str) -> None:
    """Count one lease change of this node: ``acquired`` (a sale taken, or taken over),
    ``renewed``, ``lost`` (refused as stale, or expired) or ``released``."""
    LEASES.changed(change)
