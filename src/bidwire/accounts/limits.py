"""Abuse limits as pure objects: time is an argument (ms), memory is bounded."""

from __future__ import annotations

from collections import OrderedDict, deque

MAX_TRACKED_KEYS = 100_000
"""Keys (users, addresses) remembered at most; the least recently seen are forgotten first."""


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window_ms``."""

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self._hits: OrderedDict[str, deque[int]] = OrderedDict()

    def blocked(self, key: str, now_ms: int) -> bool:
        hits = self._hits.get(key)
        if hits is None:
            return False
        while hits and hits[0] <= now_ms - self.window_ms:
            hits.popleft()
        return len(hits) >= self.limit

    def hit(self, key: str, now_ms: int) -> None:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque(maxlen=self.limit)
            if len(self._hits) > MAX_TRACKED_KEYS:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        hits.append(now_ms)

    def release(self, key: str, at_ms: int) -> None:
        """Take back one hit made at ``at_ms`` (a reservation that did not count after all)."""
        hits = self._hits.get(key)
        if hits is not None and at_ms in hits:
            hits.remove(at_ms)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)


class TokenBucket:
    """``rate`` per second with bursts of ``burst``, per key."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def take(self, key: str, now_ms: int) -> bool:
        tokens, at = self._state.get(key, (float(self.burst), now_ms))
        tokens = min(float(self.burst), tokens + (now_ms - at) * self.rate / 1000)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._state[key] = (tokens, now_ms)
        self._state.move_to_end(key)
        if len(self._state) > MAX_TRACKED_KEYS:
            self._state.popitem(last=False)
        return allowed
