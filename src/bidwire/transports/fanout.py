"""The feed's direct path over plain TCP: one C loop of send(2) for every JSON watcher.

Why: each loopback write costs the kernel about 7 µs here; a Python call into uvloop's
``transport.write`` adds about 1.5 µs around it, 1.5 ms per event at 1,000 watchers
(bench/README.md). ``_fanout.send_all`` makes the sends from C, the GIL let go.

Order is kept by the outlet: it offers its socket only while its transport has nothing queued
(tcp.py sets the transport's high-water mark to 0, so the first byte it has to queue takes the
connection off this path at once, through ``pause_writing``). Whatever a socket does not take
here is handed to that transport, after everything it already sent, and the same rule takes
it off the path until the transport has drained.
"""

from __future__ import annotations

import errno
from array import array
from collections.abc import Callable

from bidwire.engine.feed import DirectPath, DirectTarget, Subscriber, WriteEach

try:
    from bidwire.transports import _fanout
except ImportError:  # not compiled here (pyproject.toml: optional): WriteEach does the same
    _fanout = None  # type: ignore[assignment]

RETRY_LATER = (-errno.EAGAIN, -errno.EWOULDBLOCK, -errno.EINTR, -errno.ENOBUFS)
"""send(2) took nothing for now: the transport queues it all and waits for the socket."""


def direct_path() -> DirectPath:
    """The fastest direct path this install has."""
    return SendAll() if _fanout is not None else WriteEach()


class SendAll:
    def __init__(self) -> None:
        self._targets: dict[Subscriber, DirectTarget] = {}
        self._fds = array("i")
        self._writes: list[Callable[[bytes], object]] = []
        self._others: list[Callable[[bytes], object]] = []  # members with no socket (TLS)
        self._stale = False

    def __contains__(self, sub: object) -> bool:
        return sub in self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def set(self, sub: Subscriber, target: DirectTarget | None) -> None:
        if target is None:
            self._stale |= self._targets.pop(sub, None) is not None
        elif self._targets.get(sub) != target:
            self._targets[sub] = target
            self._stale = True

    def _rebuild(self) -> None:
        """At most once per flush, however many connections came and went since the last."""
        sockets = [t for t in self._targets.values() if t.fd >= 0]
        self._fds = array("i", [t.fd for t in sockets])
        self._writes = [t.write for t in sockets]
        self._others = [t.write for t in self._targets.values() if t.fd < 0]
        self._stale = False

    def send(self, data: bytes) -> None:
        if self._stale:
            self._rebuild()
        writes = self._writes  # a write below may change the members: keep this flush's list
        leftovers = [
            (writes[index], data if result < 0 else data[result:])
            for index, result in _fanout.send_all(self._fds, data)
            if result >= 0 or result in RETRY_LATER  # other errors: the transport closes too
        ]
        leftovers += [(write, data) for write in self._others]
        for write, rest in leftovers:
            try:  # noqa: SIM105 (a with-block per write costs more than the call it guards)
                write(rest)  # queued in order; the outlet leaves this path until it drains
            except (RuntimeError, OSError):
                pass  # closed under us; its connection_lost takes it out of the feed
