"""The direct path: one C loop of send(2) for every JSON watcher, TCP or WebSocket.

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
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from bidwire.wire.batch import Batch

try:
    from bidwire.transports import _fanout
except ImportError:  # not compiled here (pyproject.toml: optional): WriteEach does the same
    _fanout = None  # type: ignore[assignment]

RETRY_LATER = (-errno.EAGAIN, -errno.EWOULDBLOCK, -errno.EINTR, -errno.ENOBUFS)
"""send(2) took nothing for now: the transport queues it all and waits for the socket."""


class DirectTarget(NamedTuple):
    """How the feed may write to a subscriber straight, skipping ``deliver``."""

    fd: int
    """A plain socket with nothing queued before it, or -1 (TLS: only ``write`` will do)."""
    write: Callable[[bytes], object]
    """The transport's own write: whatever the socket does not take at once goes here, queued
    in order."""
    form: str = "json_lines"
    """What the subscriber reads: the Batch property to send (``json_lines``, ``ws_frames``)."""


class DirectPath(Protocol):
    """The JSON house subscribers the feed writes to straight (see ``Feed.redirect``)."""

    def __contains__(self, sub: object) -> bool: ...

    def __len__(self) -> int: ...

    def set(self, sub: object, target: DirectTarget | None) -> None:
        """Add, update or (None) remove ``sub``."""
        ...

    def send(self, batch: Batch) -> None:
        """The batch to every member, in the form each reads, without blocking."""
        ...


class WriteEach:
    """The plain direct path: each member's transport ``write``, one Python call each."""

    def __init__(self) -> None:
        self._targets: dict[object, DirectTarget] = {}

    def __contains__(self, sub: object) -> bool:
        return sub in self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def set(self, sub: object, target: DirectTarget | None) -> None:
        if target is None:
            self._targets.pop(sub, None)
        else:
            self._targets[sub] = target

    def send(self, batch: Batch) -> None:
        for target in list(self._targets.values()):
            write_quietly(target.write, getattr(batch, target.form))


def write_quietly(write: Callable[[bytes], object], data: bytes) -> None:
    try:  # noqa: SIM105 (a with-block per write costs more than the call it guards)
        write(data)
    except (RuntimeError, OSError):
        pass  # closed under us; its connection_lost takes it out of the feed


def direct_path() -> DirectPath:
    """The fastest direct path this install has."""
    return SendAll() if _fanout is not None else WriteEach()


class SendAll(WriteEach):
    def __init__(self) -> None:
        super().__init__()
        self._groups: list[_Group] = []
        self._stale = False

    def set(self, sub: object, target: DirectTarget | None) -> None:
        if self._targets.get(sub) != target:
            super().set(sub, target)
            self._stale = True

    def _rebuild(self) -> None:
        """At most once per flush, however many connections came and went since the last."""
        groups: dict[str, _Group] = {}
        for target in self._targets.values():
            group = groups.get(target.form)
            if group is None:
                group = groups[target.form] = _Group(target.form)
            if target.fd >= 0:
                group.fds.append(target.fd)
                group.writes.append(target.write)
            else:
                group.others.append(target.write)
        self._groups = list(groups.values())
        self._stale = False

    def send(self, batch: Batch) -> None:
        if self._stale:
            self._rebuild()
        leftovers: list[tuple[Callable[[bytes], object], bytes]] = []
        for group in self._groups:  # this flush's lists: a write below may change members
            data: bytes = getattr(batch, group.form)
            writes = group.writes
            leftovers += [
                (writes[index], data if result < 0 else data[result:])
                for index, result in _fanout.send_all(group.fds, data)
                if result >= 0 or result in RETRY_LATER  # other errors: the transport closes too
            ]
            leftovers += [(write, data) for write in group.others]
        for write, rest in leftovers:
            write_quietly(write, rest)  # queued in order; the outlet leaves this path till drained


@dataclass(slots=True)
class _Group:
    """The members that read one form of the batch."""

    form: str
    fds: array[int] = field(default_factory=lambda: array("i"))
    writes: list[Callable[[bytes], object]] = field(default_factory=list)
    others: list[Callable[[bytes], object]] = field(default_factory=list)
    """Members with no socket of their own (TLS): written through the transport."""
