"""The feed's direct path: one payload to many sockets, leftovers queued in order."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from bidwire.transports import fanout
from bidwire.transports.fanout import DirectTarget, WriteEach
from bidwire.wire.batch import Batch, Outgoing
from bidwire.wire.frames import text_frame

# Skipped only where the optional C part could not be compiled, and never in CI (.ci/run).
try:
    from bidwire.transports import _fanout as compiled
except ImportError:
    compiled = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    compiled is None and not os.environ.get("BIDWIRE_REQUIRE_SERVICES"),
    reason="the C fan-out is not compiled in this install (needs a C compiler: make install)",
)


def batch(*events: bytes) -> Batch:
    return Batch([Outgoing(None, event) for event in events])


class Member:
    """A subscriber stand-in: its socket pair, and what reached its transport's write."""

    wants_text = False

    def deliver(self, batch: Batch) -> None:
        raise AssertionError("the direct path writes to the socket, not through deliver")

    def notice(self, line: bytes) -> None:
        pass

    def __init__(self, sndbuf: int | None = None) -> None:
        self.ours, self.peer = socket.socketpair()
        if sndbuf is not None:
            self.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.ours.setblocking(False)
        self.peer.setblocking(False)
        self.queued: list[bytes] = []

    def target(self, fd: int | None = None, form: str = "json_lines") -> DirectTarget:
        return DirectTarget(self.ours.fileno() if fd is None else fd, self.queued.append, form)

    def received(self) -> bytes:
        out = b""
        while True:
            try:
                chunk = self.peer.recv(1 << 20)
            except BlockingIOError:
                return out
            if not chunk:
                return out
            out += chunk

    def fill(self) -> None:
        """Until the socket takes nothing more."""
        while True:
            try:
                self.ours.send(b"." * 65536)
            except BlockingIOError:
                return

    def close(self) -> None:
        self.ours.close()
        self.peer.close()


@pytest.fixture
def members() -> Iterator[list[Member]]:
    made: list[Member] = []
    yield made
    for m in made:
        m.close()


def test_every_member_gets_the_bytes_from_one_call(members: list[Member]) -> None:
    path = fanout.SendAll()
    members += [Member() for _ in range(50)]
    for m in members:
        path.set(m, m.target())
    path.send(batch(b'{"type":"bid_placed"}'))
    path.send(batch(b'{"type":"lot_closed"}'))
    for m in members:
        assert m.received() == b'{"type":"bid_placed"}\n{"type":"lot_closed"}\n'
        assert m.queued == []


def test_a_full_socket_gets_it_all_through_its_transport(members: list[Member]) -> None:
    path = fanout.SendAll()
    quick, full = Member(), Member()
    members += [quick, full]
    full.fill()
    for m in members:
        path.set(m, m.target())
    path.send(batch(b"event"))
    assert quick.received() == b"event\n"
    assert full.queued == [b"event\n"]


def test_a_short_write_queues_exactly_the_rest(members: list[Member]) -> None:
    path = fanout.SendAll()
    small = Member(sndbuf=4096)
    members.append(small)
    path.set(small, small.target())
    event = bytes(range(32, 127)) * 11_000  # 1 MiB: more than the socket takes at once
    path.send(batch(event))
    payload = event + b"\n"
    assert len(small.queued) == 1
    taken = small.received()
    assert 0 < len(taken) < len(payload)
    assert taken + small.queued[0] == payload


def test_a_broken_socket_is_skipped_and_the_rest_still_served(members: list[Member]) -> None:
    path = fanout.SendAll()
    broken, fine = Member(), Member()
    members += [broken, fine]
    broken.peer.close()
    for m in members:
        path.set(m, m.target())
    path.send(batch(b"event"))
    assert broken.queued == []  # its transport sees the error itself and closes
    assert fine.received() == b"event\n"


def test_members_come_and_go(members: list[Member]) -> None:
    path = fanout.SendAll()
    a, b, tls = Member(), Member(), Member()
    members += [a, b, tls]
    path.set(a, a.target())
    path.set(b, b.target())
    path.set(tls, tls.target(fd=-1))  # no socket of its own: always through its write
    assert len(path) == 3 and a in path
    path.send(batch(b"one"))
    path.set(a, None)
    path.set(a, None)  # twice is fine
    path.send(batch(b"two"))
    assert a not in path and len(path) == 2
    assert a.received() == b"one\n"
    assert b.received() == b"one\ntwo\n"
    assert tls.queued == [b"one\n", b"two\n"] and tls.received() == b""


def test_each_member_reads_its_own_form_of_the_batch(members: list[Member]) -> None:
    path = fanout.SendAll()
    tcp, ws = Member(), Member()
    members += [tcp, ws]
    path.set(tcp, tcp.target())
    path.set(ws, ws.target(form="ws_frames"))
    path.send(batch(b'{"a":1}', b'{"b":2}'))
    assert tcp.received() == b'{"a":1}\n{"b":2}\n'
    assert ws.received() == text_frame(b'{"a":1}') + text_frame(b'{"b":2}')


def test_the_plain_path_sends_the_same_through_each_write(members: list[Member]) -> None:
    path = WriteEach()
    a = Member()
    members.append(a)
    path.set(a, a.target())
    path.send(batch(b"event"))
    assert a.queued == [b"event\n"] and a.received() == b""


def test_the_server_takes_the_fastest_path_it_has() -> None:
    assert isinstance(fanout.direct_path(), fanout.SendAll)
