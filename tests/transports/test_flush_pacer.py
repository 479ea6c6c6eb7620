"""The feed's adaptive batching policy, with time passed in."""

from __future__ import annotations

from bidwire.transports.broadcast import FlushPacer


def run(pacer: FlushPacer, *, every: float, took: float, flushes: int) -> list[float]:
    """Events arriving one at a time every ``every`` s, each flush taking ``took`` s and carrying
    every event that arrived before it started; returns the waits the pacer asked for."""
    waits: list[float] = []
    now, arrived, flushed = 0.0, 1, 0  # the first event arrives at 0
    for _ in range(flushes):
        wait = pacer.delay(now)
        waits.append(wait)
        started = now + wait
        arrived = int(started / every) + 1
        pacer.flushed(arrived - flushed, started, started + took)
        flushed = arrived
        # the next flush is scheduled by the first event after this one ended
        now = max(started + took, arrived * every)
    return waits


def test_idle_flushes_at_once() -> None:
    assert run(FlushPacer(), every=0.02, took=0.001, flushes=50) == [0.0] * 50


def test_a_heavy_flush_with_sparse_events_does_not_wait() -> None:
    # 1,000 watchers on a slow machine: 9 ms flushes, one event every 20 ms. Waiting 9 ms would
    # never catch a second event; it would only add 9 ms to every watcher's staleness.
    assert run(FlushPacer(), every=0.02, took=0.009, flushes=50) == [0.0] * 50


def test_heavy_flushes_with_dense_events_wait_as_long_as_they_took() -> None:
    # 5,000 watchers: 45 ms flushes, events every 20 ms: the wait gathers more events per write.
    pacer = FlushPacer()
    waits = run(pacer, every=0.02, took=0.045, flushes=50)
    assert pacer.rate > 1 / 0.045
    assert all(abs(w - 0.045) < 1e-9 for w in waits[-10:])


def test_the_wait_is_counted_from_the_end_of_the_heavy_flush() -> None:
    pacer = FlushPacer(rate=100.0)
    pacer.flushed(5, 1.0, 1.05)
    assert abs(pacer.delay(1.06) - 0.04) < 1e-9
    assert pacer.delay(1.2) == 0.0
