"""Load generator for auction servers: the baseline's text lines and bidwire's three transports.

Run it as its own process (never inside the server's), pinned to a core of its own, so that the
server's CPU and the generator's CPU can be told apart. Send and receipt times are taken in this
one process, so they share one clock (see Staleness for which clock).

Scenario ``fanout``: W watchers and N bidders connect (in paced batches, so the server's listen
backlog does not overflow and the kernel does not retry SYNs); once every watcher is ready the
bidders offer R bids/s in total, round-robin, for D seconds, on the lot on the block; then the
generator waits (at most ``--drain`` s) for every bid's answer and for every watcher to hold the
last accepted bid.

Targets (``--target``):

* ``baseline``  bench/baseline/server.py: bids are bare digits + ``\\n``; events are lines
  ``NEW_BID <amount> <bidder> <item>``. Acceptance = the amount came back in a NEW_BID line.
* ``json``      bidwire over TCP JSON lines (protocol.md): ``hello`` first, wait for ``welcome``;
  bids are ``{"type":"bid","id":k,"lot":..,"amount":cents}``, answered by ``bid_accepted`` or
  ``bid_rejected``; watchers look for ``bid_placed`` lines.
* ``text``      bidwire's TCP text mode: bids are currency units (``152.50``) + ``\\n``; the
  replies are prose, read with ``--text-regex`` (new high bid), ``--text-answer-regex`` and
  ``--text-min-regex`` (defaults match bidwire's wording today).
* ``ws``        bidwire over WebSocket (ws://HOST:PORT/ws), same JSON as ``json``, one per frame.

Cheap counting: watchers never decode JSON. Each received chunk is scanned once, in C, by a
compiled regex (``finditer`` over the complete lines of the chunk) and ``bytes.count(b"\\n")``;
the only per-event Python work is an ``int()`` and two ``array.append``. One timestamp per chunk
stamps every event in it. The bidders do decode JSON: they must follow the lot's
``min_amount``, and there are only a few of them.

Staleness: for every accepted bid and every watcher, the time from the bid's SEND (taken just
before the bid is written to the bidder's socket) to the first moment that watcher holds that
amount or a higher one on the same lot. The send time is used rather than the arrival of
``bid_accepted`` because the broadcast overtakes the reply (seen on bidwire; the baseline has no
reply at all), which would give negative staleness; so staleness here is "bid to every screen",
including the request's own trip to the server. Amounts on a lot strictly increase, which is
what makes "that amount or a higher one" well defined; the baseline's amounts are made unique
for the whole run (the counter starts above every starting price and never goes back).

With ``--acceptance-log FILE`` (the harness passes it) the report also has staleness as the issue
defines it, from the bid's ACCEPTANCE on the server: the server appends ``<lot> <amount>
<time.time()>`` per accepted bid to FILE (the baseline with ``--acceptance-log``: decided under its
lock, before its broadcast; bidwire through bench/stamped_bidwire.py: the commit confirmed on the
event loop, before the publish), and the generator reads it once every bid is answered. Same clock
as the receipt stamps, same pairing; it leaves out the request's trip and, for bidwire, the
durable commit.

The receipt moment is the kernel's arrival stamp of the segment (SO_TIMESTAMPNS) for TCP
watchers, not the moment this process got round to reading it: otherwise the generator's own
read queue (W sockets made readable by one broadcast, read one by one) would be counted as the
server's staleness. That stamp is CLOCK_REALTIME, so both ends use ``time.time()``;
``perf_counter`` paces the bids and measures the window. ``read_lag_ms`` in the report is how
long data waited for the generator. WebSocket watchers use a minimal client of their own on the
same stamped sockets (StampedWsWatcher). ``--app-timestamps`` stamps when read instead, with
asyncio Protocols for TCP and the websockets library for WebSocket: cheaper or more standard,
but biased by the generator's queue.

CLI::

    python bench/loadgen.py fanout --target baseline --port P --watchers 1000 --bidders 10 \\
        --rate 50 --duration 10 [--server-pid PID] [--json out.json] [--cpu 1]

API::

    from loadgen import FanoutConfig, run_fanout   # with bench/ on sys.path
    result: dict = run_fanout(FanoutConfig(target="json", port=P, watchers=1000, ...))
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import functools
import ipaddress
import json
import os
import re
import resource
import socket
import struct
import sys
import time
from array import array
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

try:  # msgspec is bidwire's own dependency; stdlib json keeps the generator usable without it
    import msgspec

    _decode_json: Callable[[bytes], Any] = msgspec.json.Decoder().decode
except ImportError:  # pragma: no cover
    _decode_json = json.loads

TARGETS = ("baseline", "json", "text", "ws")

# Baseline: "NEW_BID <amount> <bidder> <item>".
BASELINE_BID = re.compile(rb"^NEW_BID (\d+) ", re.M)
# bidwire JSON: a bid_placed line, its lot and amount, in any field order and with or without
# blanks after the colons. Groups inside the lookaheads still capture. `"amount":` cannot match
# inside `"min_amount":` because the quote must come right before the `a`.
JSON_BID = re.compile(
    rb'^(?=[^\n]*"type":\s*"bid_placed")(?=[^\n]*"lot":\s*"([^"]*)")(?=[^\n]*"amount":\s*(\d+))',
    re.M,
)
# The order bidwire (msgspec) writes: the tag, then the fields as declared. A pattern that starts
# with a literal is sought by a fast scan; JSON_BID's lookaheads are tried at every line start
# and cost the generator a third of its time at 1,000 watchers.
JSON_BID_CANONICAL = re.compile(rb'"type":"bid_placed","lot":"([^"]*)","seq":\d+,"amount":(\d+)')


class JsonBids:
    """bid_placed lines: the canonical order by the fast pattern; when it finds fewer than the
    chunk holds (another field order, blanks), the chunk is scanned again with JSON_BID."""

    def finditer(
        self, data: bytes, pos: int = 0, endpos: int = sys.maxsize
    ) -> list[re.Match[bytes]]:
        fast = list(JSON_BID_CANONICAL.finditer(data, pos, endpos))
        if len(fast) == data.count(b'"bid_placed"', pos, endpos):
            return fast
        return list(JSON_BID.finditer(data, pos, endpos))


JSON_BIDS = JsonBids()
BidPattern = re.Pattern[bytes] | JsonBids

# bidwire text mode is prose, so it is read with three patterns, each overridable:
#   the new high bid every client sees (watchers; group 1 = amount),
#   the answer to one's own bid (bidders; group 1 = accepted|refused, group 2 = the code),
#   the least next bid (bidders; group 1), so that text bidders can follow the increments.
# The defaults match bidwire's wording at the time of writing, e.g.
#   "New high bid: 99,999.00 USD by guest-1 on Vintage Watch. Next bid at least 100,099.00 USD."
#   "Bid refused: you already hold the high bid. [already_leading]"
DEFAULT_TEXT_REGEX = r"(?m)^New high bid: (\d[\d,]*(?:\.\d+)?)"
DEFAULT_TEXT_ANSWER_REGEX = r"(?m)^Bid (accepted|refused)(?:[^\n]*\[(\w+)\])?"
DEFAULT_TEXT_MIN_REGEX = r"at least (\d[\d,]*(?:\.\d+)?)"

READY_STALL = 5.0  # seconds without a newly ready connection before the run goes on without it
GENERATOR_BOUND = 0.85  # share of one core above which the generator, not the server, may limit
# Linux's value (asm-generic; x86-64 and arm64 alike); the socket module does not export it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("qq")
_TS_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
RECV_BYTES = 65536


def whole_lines(tail: bytes, data: bytes) -> tuple[bytes, int, bytes]:
    """Join a connection's leftover partial line to new data: ``(data, end, tail)``, where
    ``data[:end]`` holds whole lines only (``end`` 0: none yet). The caller scans that range in
    place (no slicing copy: the generator must count cheaply)."""
    if tail:
        data = tail + data
    end = data.rfind(b"\n") + 1
    return data, end, data[end:]


@dataclasses.dataclass
class FanoutConfig:
    target: str = "json"
    host: str = "127.0.0.1"
    port: int = 0
    ws_path: str = "/ws"
    watchers: int = 1000
    bidders: int = 10
    rate: float = 50.0  # bids per second, all bidders together
    duration: float = 10.0
    drain: float = 5.0  # most seconds to wait after the last bid for watchers to catch up
    settle: float = 0.5  # pause between "all ready" and the first bid
    connect_batch: int = 500
    connect_interval: float = 0.05
    connect_timeout: float = 60.0  # per connection, and for the whole ready phase
    lot: str | None = None  # json/ws: bid on this lot instead of the first open one
    start_amount: int = 10_000  # baseline: units, above every item's price; text: units
    step: int = 1  # baseline/text: raise per bid; json/ws: used until the increment is seen
    text_regex: str = DEFAULT_TEXT_REGEX
    text_answer_regex: str = DEFAULT_TEXT_ANSWER_REGEX
    text_min_regex: str = DEFAULT_TEXT_MIN_REGEX
    name_prefix: str = "lg"
    server_pid: int | None = None  # read its CPU and RSS from /proc over the window
    kernel_timestamps: bool = True  # TCP watchers: stamp receipts with SO_TIMESTAMPNS
    timeout: float | None = None  # hard bound on the whole run; default derived from the above
    use_uvloop: bool = True
    acceptance_log: str | None = None  # the server's acceptance stamps (see Staleness)
    # several nodes (bench/cluster.py): connection i goes to ports[i % len(ports)], watchers and
    # bidders counted apart, and the servers' CPU is the sum over server_pids
    ports: tuple[int, ...] = ()
    server_pids: tuple[int, ...] = ()
    bidder_port: int | None = None  # every bidder here (one node's order), watchers as above

    def port_for(self, i: int) -> int:
        return self.ports[i % len(self.ports)] if self.ports else self.port

    def pids(self) -> tuple[int, ...]:
        return self.server_pids or ((self.server_pid,) if self.server_pid else ())

    def hard_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return self.connect_timeout + self.settle + self.duration + self.drain + 30.0


# -- /proc readings (the harness passes the server's PID) ----------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid``, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name may contain spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in KiB and the thread count of ``pid``."""
    wanted = {"VmRSS": "rss_kib", "VmHWM": "hwm_kib", "Threads": "threads"}
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in wanted:
                out[wanted[key]] = int(value.split()[0])
    return out


def raise_nofile() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- shared run state ----------------------------------------------------------------------------

LotKey = bytes | None  # bidwire lot id as received on the wire; None where lots are not tracked


class Run:
    """What every connection of one run shares: the clock readings the report is built from."""

    def __init__(self, cfg: FanoutConfig) -> None:
        self.cfg = cfg
        # json/ws: request id -> (send time, lot, amount); acceptance marked from bid_accepted.
        self.sent: dict[int, tuple[float, bytes, int]] = {}
        self.accepted: dict[tuple[LotKey, int], float] = {}
        self.answered = 0
        # baseline/text: key amount -> send time; acceptance = the amount came back.
        self.sent_at: dict[int, float] = {}
        self.seen: set[int] = set()
        self.rejected: dict[str, int] = {}
        self.offered = 0
        self.next_amount = cfg.start_amount
        # text: the least next bid the server last named, in cents, and answers counted.
        self.text_min = 0
        self.text_answers = 0
        # json/ws market view, kept by the bidders: lot -> what we know of it.
        self.lots: dict[bytes, dict[str, Any]] = {}
        self.target: bytes | None = cfg.lot.encode() if cfg.lot else None
        self.last_sent: dict[bytes, int] = {}

    def reject(self, code: str) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1

    # json/ws: the bidders feed every decoded message here.
    def on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        lot = msg.get("lot")
        lot_b = lot.encode() if isinstance(lot, str) else None
        if kind == "bid_accepted" or kind == "bid_rejected":
            sent = self.sent.get(msg.get("id"))  # type: ignore[arg-type]
            if sent is None:
                return
            self.answered += 1
            if kind == "bid_accepted":
                self.accepted[(sent[1], sent[2])] = sent[0]
            else:
                self.reject(str(msg.get("code")))
                if lot_b and isinstance(msg.get("min_amount"), int):
                    info = self.lots.setdefault(lot_b, {"open": True})
                    info["min_amount"] = max(info.get("min_amount", 0), msg["min_amount"])
            return
        if lot_b is None:
            return
        info = self.lots.setdefault(lot_b, {"open": False})
        if kind in ("lot_opened", "snapshot"):
            info["open"] = kind == "lot_opened" or msg.get("state") == "open"
            info.setdefault("opened_order", len(self.lots))
            if isinstance(msg.get("min_amount"), int):
                info["min_amount"] = max(info.get("min_amount", 0), msg["min_amount"])
        elif kind == "bid_placed":
            info["open"] = True
            amount, min_amount = msg.get("amount"), msg.get("min_amount")
            if isinstance(amount, int) and isinstance(min_amount, int):
                info["min_amount"] = max(info.get("min_amount", 0), min_amount)
                info["increment"] = max(1, min_amount - amount)
        elif kind == "lot_closed":
            info["open"] = False
        if self.cfg.lot is None and (self.target is None or not self.lots[self.target]["open"]):
            open_lots = [k for k, v in self.lots.items() if v["open"]]
            if open_lots:
                self.target = min(open_lots, key=lambda k: self.lots[k].get("opened_order", 0))

    def unanswered(self) -> int | None:
        """Bids with no answer yet; None where the protocol gives no countable answer."""
        if self.cfg.target in ("json", "ws"):
            return self.offered - self.answered
        if self.cfg.target == "baseline":
            # Each bid comes back to its bidder as exactly one NEW_BID or one ERROR line.
            back = sum(1 for a in self.seen if a in self.sent_at) + self.rejected.get("error", 0)
            return self.offered - back
        # text: countable only if the answer pattern matches the server's wording at all.
        return self.offered - self.text_answers if self.text_answers else None

    def json_amount(self, lot: bytes) -> int:
        """The next amount to offer on ``lot``: the server's minimum, or a step past our own
        last offer (a burst of bids goes out before their broadcasts come back)."""
        info = self.lots.get(lot, {})
        ours = self.last_sent.get(lot, 0) + info.get("increment", self.cfg.step)
        amount: int = max(info.get("min_amount", self.cfg.start_amount), ours)
        self.last_sent[lot] = amount
        return amount


# -- watchers ------------------------------------------------------------------------------------


class Watcher:
    """Counts lines and records (receipt time, amount) of every bid event, per lot.

    Receipt arrays hold one float and one int per bid event (16 bytes), so 1000 watchers x 500
    bids is 8 MB, and no per-event objects are kept.
    """

    __slots__ = (
        "bids",
        "close",
        "lag_max",
        "lag_sum",
        "lines",
        "parse",
        "reads",
        "ready",
        "ready_marker",
        "rec",
        "tail",
    )

    def __init__(
        self,
        parse: Callable[[re.Match[bytes]], tuple[LotKey, int]] | None,
        ready_marker: bytes | None,
    ) -> None:
        self.parse = parse
        self.ready_marker = ready_marker  # None: the first line makes the watcher ready
        self.ready = False
        self.lines = 0
        self.bids = 0
        self.tail = b""
        self.rec: dict[LotKey, tuple[array[float], array[int]]] = {}
        self.close: Callable[[], None] | None = None
        # How long data sat in the kernel before this process read it (kernel stamps only).
        self.reads = 0
        self.lag_sum = 0.0
        self.lag_max = 0.0

    def feed(self, data: bytes, pattern: BidPattern, stamp: float) -> None:
        """``stamp``: when ``data`` arrived, time.time() seconds (kernel or application)."""
        data, end, self.tail = whole_lines(self.tail, data)
        if end == 0:
            return
        self.lines += data.count(b"\n", 0, end)
        if not self.ready and (self.ready_marker is None or self.ready_marker in data):
            self.ready = True
        parse = self.parse
        for m in pattern.finditer(data, 0, end):
            lot, amount = parse(m)  # type: ignore[misc]
            rec = self.rec.get(lot)
            if rec is None:
                rec = self.rec[lot] = (array("d"), array("q"))
            rec[0].append(stamp)
            rec[1].append(amount)
            self.bids += 1

    def last_amount(self, lot: LotKey) -> int:
        rec = self.rec.get(lot)
        return rec[1][-1] if rec else -1


class StampedWatcher:
    """TCP watcher that reads with recvmsg, so each chunk carries the kernel's arrival time.

    Why: one broadcast lands on W sockets at once, and this single-threaded generator then
    reads them one after another, a few microseconds each. Stamping a chunk when it is read
    would add up to W times that to the staleness of the last watcher read: the generator's
    own queue, not the server's. The kernel's SO_TIMESTAMPNS stamp (CLOCK_REALTIME, hence
    time.time() for the send side) is taken when the segment arrives, whenever it is read.
    """

    __slots__ = ("pattern", "sock", "w")

    def __init__(self, w: Watcher, pattern: BidPattern) -> None:
        self.w, self.pattern = w, pattern
        self.sock: socket.socket | None = None

    async def open(self, host: str, port: int, hello: bytes | None) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            await loop.sock_connect(sock, (host, port))
            if hello:
                sock.send(hello)  # a few bytes into an empty send buffer: never partial
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        loop.add_reader(sock.fileno(), self.readable)
        self.w.close = self.shut

    def readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            data, ancillary, _, _ = sock.recvmsg(RECV_BYTES, _TS_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self.shut()
            return
        now = time.time()
        stamp = now
        for level, kind, cdata in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack(cdata)
                stamp = sec + nsec * 1e-9
        w = self.w
        lag = now - stamp
        w.reads += 1
        w.lag_sum += lag
        if lag > w.lag_max:
            w.lag_max = lag
        w.feed(self.unwrap(data), self.pattern, stamp)

    def unwrap(self, data: bytes) -> bytes:
        return data

    def shut(self) -> None:
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None


class StampedWsWatcher(StampedWatcher):
    """The same over WebSocket, with a minimal client (RFC 6455) written for this purpose.

    Why not the websockets library here: its per-frame cost (parser, futures, a task per
    connection) is several times the raw read, so at 1000 watchers the generator's own queue
    dominated the staleness it measured. Server frames are unmasked, so unwrapping is a header
    parse and a slice; the payloads are then joined by newlines and scanned like TCP lines.
    Pings are answered (a server with keepalive would otherwise drop us); no extensions are
    offered, so no compression.
    """

    __slots__ = ("buf", "frag", "hello", "upgraded")

    def __init__(self, w: Watcher, pattern: BidPattern) -> None:
        super().__init__(w, pattern)
        self.buf = b""
        self.frag = b""
        self.hello: bytes | None = None
        self.upgraded = False

    async def open(self, host: str, port: int, hello: bytes | None, path: str = "/ws") -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.hello = hello.rstrip(b"\n") if hello else None  # sent once the upgrade is answered
        await super().open(host, port, request.encode())

    def unwrap(self, data: bytes) -> bytes:
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return b""
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                self.shut()  # refused: this watcher never becomes ready
                return b""
            self.upgraded = True
            if self.hello and self.sock is not None:
                self.sock.send(ws_client_frame(0x1, self.hello))
            buf = buf[end + 4 :]
        out: list[bytes] = []
        pos, n = 0, len(buf)
        while n - pos >= 2:
            first, size, head = buf[pos], buf[pos + 1] & 0x7F, 2
            if size == 126:
                if n - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < head + size:
                break
            payload = buf[pos + head : pos + head + size]
            pos += head + size
            opcode = first & 0x0F
            if opcode in (0x0, 0x1, 0x2):  # continuation, text, binary
                if first & 0x80:  # FIN
                    out.append(self.frag + payload if self.frag else payload)
                    self.frag = b""
                else:
                    self.frag += payload
            elif opcode == 0x9 and self.sock is not None:  # ping
                self.sock.send(ws_client_frame(0xA, payload))
            elif opcode == 0x8:  # close
                self.shut()
                break
        self.buf = buf[pos:]
        return b"\n".join(out) + b"\n" if out else b""


def ws_client_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame; clients must mask (RFC 6455 5.3)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 0xFE]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0xFF]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return head + mask + masked


class StreamWatcher(asyncio.Protocol):
    """TCP watcher on an asyncio Protocol, stamped when read (``--app-timestamps``): cheaper
    than StampedWatcher, but its staleness includes the generator's own read queue."""

    def __init__(self, w: Watcher, pattern: BidPattern, hello: bytes | None) -> None:
        self.w, self.pattern, self.hello = w, pattern, hello

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.w.close = transport.abort  # type: ignore[attr-defined]
        if self.hello:
            transport.write(self.hello)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.w.feed(data, self.pattern, time.time())


# -- bidders -------------------------------------------------------------------------------------


class Bidder(asyncio.Protocol):
    """A TCP bidder. It also receives the broadcast and reads it fully (there are only a few)."""

    def __init__(
        self,
        run: Run,
        mode: str,
        name: str,
        pattern: BidPattern | None,
        parse: Callable[[re.Match[bytes]], tuple[LotKey, int]] | None,
    ) -> None:
        self.run, self.mode, self.name = run, mode, name
        self.pattern, self.parse = pattern, parse
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.ready = False
        if mode == "text":
            self.answer = re.compile(run.cfg.text_answer_regex.encode())
            self.least = re.compile(run.cfg.text_min_regex.encode())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.mode == "json":
            hello = {"type": "hello", "name": self.name}
            transport.write(json.dumps(hello).encode() + b"\n")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        data, end, self.tail = whole_lines(self.tail, data)
        if end == 0:
            return
        if self.mode == "json":
            for line in data[:end].splitlines():
                self.on_json(line)
            return
        self.ready = True
        for m in self.pattern.finditer(data, 0, end):  # type: ignore[union-attr]
            self.run.seen.add(self.parse(m)[1])  # type: ignore[misc]
        if self.mode == "baseline":
            for _ in range(data.count(b"\nERROR ", 0, end) + data.startswith(b"ERROR ")):
                self.run.reject("error")
        elif self.mode == "text":
            for m in self.least.finditer(data, 0, end):
                self.run.text_min = max(self.run.text_min, _cents(m[1]))
            for m in self.answer.finditer(data, 0, end):
                self.run.text_answers += 1
                if m[1] != b"accepted":
                    self.run.reject((m[2] or m[1]).decode())

    def on_json(self, line: bytes) -> None:
        if not line.lstrip().startswith(b"{"):
            return  # a text-mode greeting that raced our hello; protocol.md says ignore it
        try:
            msg = _decode_json(line)
        except Exception:
            return
        if not isinstance(msg, dict):
            return
        if msg.get("type") == "welcome":
            self.ready = True
        self.run.on_message(msg)

    def write(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]


class WsBidder(Bidder):
    """The same bidder over a WebSocket: one JSON message per frame."""

    def __init__(self, run: Run, name: str) -> None:
        super().__init__(run, "json", name, None, None)
        self.ws: Any = None
        self.sending: set[asyncio.Task[None]] = set()

    def write(self, data: bytes) -> None:
        # send() is a coroutine; run it beside the scheduler so one slow frame cannot delay the
        # next bid's send time. Keep a reference until done, or the task may be collected.
        task = asyncio.ensure_future(self.ws.send(data.rstrip(b"\n").decode()))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)


# -- the scenario --------------------------------------------------------------------------------


def _cents(text: bytes) -> int:
    try:
        return int(Decimal(text.replace(b",", b"").decode()) * 100)
    except InvalidOperation:
        return -1


def _target_parts(cfg: FanoutConfig) -> tuple[BidPattern, Callable[..., tuple[Any, int]]]:
    if cfg.target == "baseline":
        return BASELINE_BID, lambda m: (None, int(m[1]))
    if cfg.target in ("json", "ws"):
        return JSON_BIDS, lambda m: (m[1], int(m[2]))
    return re.compile(cfg.text_regex.encode()), lambda m: (None, _cents(m[1]))


async def _connect_all(cfg: FanoutConfig, makers: list[Callable[[], Any]]) -> tuple[int, float]:
    """Open connections in paced batches; returns (failures, seconds)."""
    start = time.perf_counter()
    failed = 0
    for i in range(0, len(makers), cfg.connect_batch):
        batch = [
            asyncio.wait_for(mk(), cfg.connect_timeout) for mk in makers[i : i + cfg.connect_batch]
        ]
        results = await asyncio.gather(*batch, return_exceptions=True)
        failed += sum(isinstance(r, BaseException) for r in results)
        await asyncio.sleep(cfg.connect_interval)
    return failed, time.perf_counter() - start


async def fanout(cfg: FanoutConfig) -> dict[str, Any]:
    """Run the fanout scenario once and return the report (see module docstring)."""
    if cfg.target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {cfg.target!r}")
    if not ipaddress.ip_address(socket.gethostbyname(cfg.host)).is_loopback:
        raise ValueError("this generator only targets loopback addresses")
    loop = asyncio.get_running_loop()
    run = Run(cfg)
    pattern, parse = _target_parts(cfg)
    json_like = cfg.target in ("json", "ws")

    def ws_url(i: int) -> str:
        return f"ws://{cfg.host}:{cfg.port_for(i)}{cfg.ws_path}"

    tasks: list[asyncio.Task[None]] = []
    wsconns: list[Any] = []

    def hello(name: str) -> bytes:
        return json.dumps({"type": "hello", "name": name}).encode() + b"\n"

    # Bidders first, so the market view (open lot, min_amount) is known before watchers load in.
    bidders: list[Bidder] = []

    async def open_bidder(i: int) -> None:
        name = f"{cfg.name_prefix}-bidder{i}"
        if cfg.target == "ws":
            from websockets.asyncio.client import connect

            b: Bidder = WsBidder(run, name)
            url = (
                f"ws://{cfg.host}:{cfg.bidder_port}{cfg.ws_path}" if cfg.bidder_port else ws_url(i)
            )
            ws = await connect(url, compression=None, proxy=None, ping_interval=None)
            b.ws = ws  # type: ignore[attr-defined]
            wsconns.append(ws)
            await ws.send(hello(name).decode().rstrip("\n"))
            tasks.append(asyncio.create_task(_ws_pump(ws, b.on_json)))
        else:
            mode = "json" if cfg.target == "json" else cfg.target
            b = Bidder(run, mode, name, pattern, parse)
            await loop.create_connection(lambda: b, cfg.host, cfg.bidder_port or cfg.port_for(i))
        bidders.append(b)

    watchers = [Watcher(parse, b'"welcome"' if json_like else None) for _ in range(cfg.watchers)]

    def watcher_maker(i: int, w: Watcher) -> Callable[[], Any]:
        name = f"{cfg.name_prefix}-watcher{i}"
        port = cfg.port_for(i)
        if cfg.target == "ws" and cfg.kernel_timestamps:
            return lambda: StampedWsWatcher(w, pattern).open(
                cfg.host, port, hello(name), cfg.ws_path
            )
        if cfg.target == "ws":

            async def open_ws() -> None:
                from websockets.asyncio.client import connect

                ws = await connect(ws_url(i), compression=None, proxy=None, ping_interval=None)
                wsconns.append(ws)
                await ws.send(hello(name).decode().rstrip("\n"))
                # A frame carries no newline: add one so the line-oriented scan applies as is.
                pump = _ws_pump(ws, lambda d: w.feed(d + b"\n", pattern, time.time()))
                tasks.append(asyncio.create_task(pump))

            return open_ws
        greeting = hello(name) if cfg.target == "json" else None
        if cfg.kernel_timestamps:
            return lambda: StampedWatcher(w, pattern).open(cfg.host, port, greeting)
        return lambda: loop.create_connection(
            lambda: StreamWatcher(w, pattern, greeting), cfg.host, port
        )

    report: dict[str, Any] = {
        "scenario": "fanout",
        "target": cfg.target,
        "config": dataclasses.asdict(cfg),
    }
    try:
        bidder_failed, _ = await _connect_all(
            cfg, [functools.partial(open_bidder, i) for i in range(cfg.bidders)]
        )
        watcher_failed, connect_s = await _connect_all(
            cfg, [watcher_maker(i, w) for i, w in enumerate(watchers)]
        )
        if not bidders:
            raise RuntimeError("no bidder could connect")

        # Ready: every connected watcher has its welcome (json) or first line (text), and for
        # json/ws the bidders know a lot that is open.
        # A connection whose handshake the server dropped (listen queue overflow answered with
        # SYN cookies) can look open here and never speak: stop waiting once progress stalls.
        deadline = time.perf_counter() + cfg.connect_timeout
        last_ready, progress_at = -1, time.perf_counter()
        while (now := time.perf_counter()) < deadline:
            ready_w = sum(w.ready for w in watchers)
            ready_b = sum(b.ready for b in bidders)
            lot_known = not json_like or run.target is not None
            if ready_w >= cfg.watchers - watcher_failed and ready_b == len(bidders) and lot_known:
                break
            if ready_w + ready_b != last_ready:
                last_ready, progress_at = ready_w + ready_b, now
            elif now - progress_at > READY_STALL and ready_b == len(bidders) and lot_known:
                break
            await asyncio.sleep(0.05)
        ready_w = sum(w.ready for w in watchers)
        if json_like and run.target is None:
            raise RuntimeError("no open lot to bid on (pass --lot, or start the sale)")
        report["connect"] = {
            "watchers_ready": ready_w,
            "watchers_failed": watcher_failed,
            "bidders_ready": sum(b.ready for b in bidders),
            "bidders_failed": bidder_failed,
            "seconds": round(connect_s, 3),
        }
        await asyncio.sleep(cfg.settle)

        # -- the measured window ----------------------------------------------------------------
        lines0 = sum(w.lines for w in watchers)
        bids0 = sum(w.bids for w in watchers)
        ru0, cpu0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
        srv0 = [proc_cpu_seconds(pid) for pid in cfg.pids()]
        t0 = time.perf_counter()
        lag_max = lag_sum = 0.0
        total = int(cfg.rate * cfg.duration)
        for k in range(total):
            due = t0 + k / cfg.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = time.perf_counter() - due
            lag_max, lag_sum = max(lag_max, lag), lag_sum + lag
            _send_bid(run, bidders[k % len(bidders)], k)
        rest = t0 + cfg.duration - time.perf_counter()
        if rest > 0:
            await asyncio.sleep(rest)
        t1 = time.perf_counter()
        window = t1 - t0
        cpu1, ru1 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
        server: dict[str, Any] | None = None
        if cfg.pids():
            used = [
                proc_cpu_seconds(pid) - before for pid, before in zip(cfg.pids(), srv0, strict=True)
            ]
            server = {
                "pid": cfg.pids()[0],
                "cpu_s": round(sum(used), 3),
                "cpu_fraction": round(sum(used) / window, 3),
                **proc_status(cfg.pids()[0]),
            }
            if len(used) > 1:
                server["cpu_s_each"] = [round(u, 3) for u in used]
        lines1 = sum(w.lines for w in watchers)
        bids1 = sum(w.bids for w in watchers)

        # -- drain: let the last broadcasts arrive ----------------------------------------------
        # Done when every bid has its answer and every watcher holds the last accepted amount.
        # Text mode has no countable answer, so there "answered" means 0.5 s without new lines.
        drain_end = t1 + cfg.drain
        seen_lines, quiet_since = -1, t1
        while (now := time.perf_counter()) < drain_end:
            lines = sum(w.lines for w in watchers)
            if lines != seen_lines:
                seen_lines, quiet_since = lines, now
            pending = run.unanswered()
            answered = pending == 0 or (pending is None and now - quiet_since > 0.5)
            if answered and _caught_up(run, watchers, json_like):
                break
            await asyncio.sleep(0.05)
        drain_s = time.perf_counter() - t1

        accepted = _accepted(run, json_like)
        n_accepted = sum(len(bids) for bids in accepted.values())
        stale, missed = _staleness(accepted, watchers)
        from_acceptance = None
        if cfg.acceptance_log:
            stamps = read_acceptance_log(cfg.acceptance_log)
            by_stamp, unstamped = _from_acceptance(accepted, stamps)
            from_acceptance = _summary(_staleness(by_stamp, watchers)[0])
            from_acceptance["unstamped_bids"] = unstamped
        gen_cpu = cpu1 - cpu0
        kernel = cfg.kernel_timestamps and any(w.lag_max > 0 for w in watchers)
        stamp_kind = "kernel" if kernel else "app"
        report.update(
            {
                "window_s": round(window, 3),
                "bids": {
                    "offered": run.offered,
                    "accepted": n_accepted,
                    "rejected": dict(run.rejected),
                    "unanswered": run.unanswered(),
                    "offered_per_s": round(run.offered / window, 2),
                    "accepted_per_s": round(n_accepted / window, 2),
                },
                "events": {
                    "lines_in_window": lines1 - lines0,
                    "delivered_per_s": round((lines1 - lines0) / window, 1),
                    "bid_events_per_s": round((bids1 - bids0) / window, 1),
                    "bid_events_total": sum(w.bids for w in watchers),
                    "expected_bid_events": n_accepted * ready_w,
                    "watchers_with_events": sum(w.bids > 0 for w in watchers),
                    "missed": missed,
                    "drain_s": round(drain_s, 3),
                },
                "staleness_ms": _summary(stale) | {"receipt_stamp": stamp_kind},
                "staleness_from_acceptance_ms": from_acceptance,
                "read_lag_ms": _read_lag(watchers) if stamp_kind == "kernel" else None,
                "generator": {
                    "cpu_s": round(gen_cpu, 3),
                    "utime_s": round(ru1.ru_utime - ru0.ru_utime, 3),
                    "stime_s": round(ru1.ru_stime - ru0.ru_stime, 3),
                    "cpu_fraction": round(gen_cpu / window, 3),
                    "generator_bound": gen_cpu / window > GENERATOR_BOUND,
                    "send_lag_max_ms": round(lag_max * 1000, 2),
                    "send_lag_mean_ms": round(lag_sum / max(1, total) * 1000, 3),
                    "uvloop": "uvloop" in type(loop).__module__,
                    "affinity": sorted(os.sched_getaffinity(0)),
                    "rss_kib": proc_status(os.getpid()).get("rss_kib"),
                },
                "server": server,
            }
        )
        return report
    finally:
        for task in tasks:
            task.cancel()
        for w in watchers:
            if w.close is not None:
                w.close()
        for b in bidders:
            if b.transport is not None:
                b.transport.abort()
        for ws in wsconns:
            ws.transport.abort()


async def _ws_pump(ws: Any, on_frame: Callable[[bytes], None]) -> None:
    try:
        while True:
            data = await ws.recv(decode=False)
            on_frame(data if isinstance(data, bytes) else data.encode())
    except Exception:  # closed: the run is over, or the server went away (counted as missed)
        return


def _send_bid(run: Run, bidder: Bidder, k: int) -> None:
    cfg = run.cfg
    if cfg.target in ("json", "ws"):
        lot = run.target
        assert lot is not None
        amount = run.json_amount(lot)
        data = b'{"type":"bid","id":%d,"lot":%s,"amount":%d}\n' % (
            k,
            json.dumps(lot.decode()).encode(),
            amount,
        )
        run.sent[k] = (time.time(), lot, amount)
    elif cfg.target == "baseline":
        amount = run.next_amount
        run.next_amount += cfg.step
        data = b"%d\n" % amount
        run.sent_at[amount] = time.time()
    else:
        # Text mode takes currency units with up to two decimals; keys are cents. Follow the
        # server's "at least" so the increments do not turn every bid into a refusal.
        cents = max(run.next_amount * 100, run.text_min)
        run.next_amount = -(-cents // 100) + cfg.step
        data = b"%d.%02d\n" % divmod(cents, 100)
        run.sent_at[cents] = time.time()
    run.offered += 1
    bidder.write(data)


def _accepted(run: Run, json_like: bool) -> dict[LotKey, list[tuple[int, float]]]:
    """Accepted bids per lot, sorted by amount, with their send times."""
    by_lot: dict[LotKey, list[tuple[int, float]]] = {}
    if json_like:
        for (lot, amount), t in run.accepted.items():
            by_lot.setdefault(lot, []).append((amount, t))
    else:
        # Every client gets every broadcast, so the bidders' own view of the feed is complete.
        by_lot[None] = [(a, run.sent_at[a]) for a in run.seen if a in run.sent_at]
    for bids in by_lot.values():
        bids.sort()
    return by_lot


def _caught_up(run: Run, watchers: list[Watcher], json_like: bool) -> bool:
    """Every ready watcher holds the highest accepted amount of every lot."""
    tops: dict[LotKey, int] = {}
    if json_like:
        for lot, amount in run.accepted:
            tops[lot] = max(tops.get(lot, 0), amount)
    else:
        mine = [a for a in run.seen if a in run.sent_at]
        if mine:
            tops[None] = max(mine)
    return all(w.last_amount(lot) >= top for lot, top in tops.items() for w in watchers if w.ready)


def _staleness(
    accepted: dict[LotKey, list[tuple[int, float]]], watchers: list[Watcher]
) -> tuple[array[float], int]:
    """Per (watcher, accepted bid): first receipt of that amount or more, minus the send time.

    A watcher's receipts on a lot come in server order, so amounts rise and one forward pass
    per lot pairs them with the sorted accepted bids. Pairs never delivered count as missed.
    """
    stale = array("d")  # 8 bytes a sample: W x accepted can run to millions
    missed = 0
    for w in watchers:
        if not w.ready:
            continue
        for lot, bids in accepted.items():
            rec = w.rec.get(lot)
            if rec is None:
                missed += len(bids)
                continue
            times, amounts = rec
            j, n = 0, len(amounts)
            for i, (amount, sent) in enumerate(bids):
                while j < n and amounts[j] < amount:
                    j += 1
                if j == n:
                    missed += len(bids) - i
                    break
                stale.append(times[j] - sent)
    return stale, missed


def read_acceptance_log(path: str) -> dict[tuple[LotKey, int], float]:
    """``<lot> <amount> <time.time()>`` lines (lot ``-`` for the baseline's single item)."""
    stamps: dict[tuple[LotKey, int], float] = {}
    with open(path, "rb") as f:
        for line in f:
            lot, amount, at = line.split()
            stamps[(None if lot == b"-" else lot, int(amount))] = float(at)
    return stamps


def _from_acceptance(
    accepted: dict[LotKey, list[tuple[int, float]]], stamps: dict[tuple[LotKey, int], float]
) -> tuple[dict[LotKey, list[tuple[int, float]]], int]:
    """The same accepted bids, each with the server's acceptance stamp instead of its send time;
    and how many had no stamp (left out). Text mode does not know its lot (key None): there
    the amount alone finds the stamp (amounts are unique in a run)."""
    by_amount = {amount: at for (_, amount), at in stamps.items()}
    by_lot: dict[LotKey, list[tuple[int, float]]] = {}
    unstamped = 0
    for lot, bids in accepted.items():
        for amount, _sent in bids:
            at = stamps.get((lot, amount)) if lot is not None else by_amount.get(amount)
            if at is None:
                unstamped += 1
            else:
                by_lot.setdefault(lot, []).append((amount, at))
    return by_lot, unstamped


def _read_lag(watchers: list[Watcher]) -> dict[str, float]:
    """How long received data waited in the kernel for this process: large values mean the
    generator fell behind (its staleness figures stay right; its CPU is the thing to watch)."""
    reads = sum(w.reads for w in watchers)
    return {
        "mean": round(sum(w.lag_sum for w in watchers) / max(1, reads) * 1000, 3),
        "max": round(max((w.lag_max for w in watchers), default=0.0) * 1000, 3),
    }


def _summary(unsorted: array[float]) -> dict[str, Any]:
    if not unsorted:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    samples = sorted(unsorted)
    ms = 1000.0
    return {
        "count": len(samples),
        "p50": round(percentile(samples, 50) * ms, 3),
        "p90": round(percentile(samples, 90) * ms, 3),
        "p99": round(percentile(samples, 99) * ms, 3),
        "max": round(samples[-1] * ms, 3),
        "mean": round(sum(samples) / len(samples) * ms, 3),
    }


def run_fanout(cfg: FanoutConfig) -> dict[str, Any]:
    """Synchronous entry point: raises the fd limit, picks the loop, bounds the run in time."""
    raise_nofile()
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if cfg.use_uvloop:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(asyncio.wait_for(fanout(cfg), cfg.hard_timeout()))


def format_report(r: dict[str, Any]) -> str:
    """A few lines a person can read; the JSON has everything."""
    b, e, s, g = r["bids"], r["events"], r["staleness_ms"], r["generator"]
    lines = [
        f"target={r['target']} watchers={r['connect']['watchers_ready']}"
        f" window={r['window_s']}s connect={r['connect']['seconds']}s",
        f"bids/s offered={b['offered_per_s']} accepted={b['accepted_per_s']}"
        f" rejected={b['rejected']}",
        f"events/s delivered={e['delivered_per_s']} (bid events {e['bid_events_per_s']});"
        f" missed={e['missed']} drain={e['drain_s']}s",
        f"staleness ms p50={s['p50']} p99={s['p99']} max={s['max']} (n={s['count']})",
        *(
            [f"from acceptance ms p50={a['p50']} p99={a['p99']} max={a['max']} (n={a['count']})"]
            if (a := r.get("staleness_from_acceptance_ms"))
            else []
        ),
        f"generator cpu={g['cpu_fraction']:.0%} of a core"
        f"{'  GENERATOR-BOUND' if g['generator_bound'] else ''} lag max={g['send_lag_max_ms']}ms",
    ]
    if r.get("server"):
        sv = r["server"]
        lines.append(
            f"server cpu={sv['cpu_fraction']:.0%} rss={sv.get('rss_kib')} KiB"
            f" threads={sv.get('threads')}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bidwire / baseline load generator")
    sub = parser.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("fanout", help="W watchers, N bidders offering R bids/s for D seconds")
    d = FanoutConfig()
    p.add_argument("--target", choices=TARGETS, default=d.target)
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ws-path", default=d.ws_path)
    p.add_argument("--watchers", type=int, default=d.watchers)
    p.add_argument("--bidders", type=int, default=d.bidders)
    p.add_argument("--rate", type=float, default=d.rate, help="bids/s, all bidders together")
    p.add_argument("--duration", type=float, default=d.duration)
    p.add_argument("--drain", type=float, default=d.drain)
    p.add_argument("--settle", type=float, default=d.settle)
    p.add_argument("--connect-batch", type=int, default=d.connect_batch)
    p.add_argument("--connect-interval", type=float, default=d.connect_interval)
    p.add_argument("--connect-timeout", type=float, default=d.connect_timeout)
    p.add_argument("--lot", default=None)
    p.add_argument("--start-amount", type=int, default=d.start_amount)
    p.add_argument("--step", type=int, default=d.step)
    p.add_argument("--text-regex", default=d.text_regex, help="text: new high bid, group 1")
    p.add_argument("--text-answer-regex", default=d.text_answer_regex)
    p.add_argument("--text-min-regex", default=d.text_min_regex)
    p.add_argument("--name-prefix", default=d.name_prefix)
    p.add_argument("--server-pid", type=int, default=None)
    p.add_argument("--ports", default="", help="several nodes: connection i to port i %% n")
    p.add_argument("--server-pids", default="", help="several nodes: their CPU summed")
    p.add_argument("--bidder-port", type=int, default=None, help="several nodes: bidders here")
    p.add_argument("--timeout", type=float, default=None, help="hard bound on the whole run")
    p.add_argument("--no-uvloop", action="store_true")
    p.add_argument(
        "--app-timestamps",
        action="store_true",
        help="stamp receipts when read, not with the kernel's arrival time (cheaper, biased)",
    )
    p.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    p.add_argument("--json", default=None, help="write the report here")
    p.add_argument(
        "--acceptance-log",
        default=None,
        help="the server's acceptance stamps: also report staleness from acceptance",
    )
    args = parser.parse_args(argv)

    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    cfg = FanoutConfig(
        target=args.target,
        host=args.host,
        port=args.port,
        ws_path=args.ws_path,
        watchers=args.watchers,
        bidders=args.bidders,
        rate=args.rate,
        duration=args.duration,
        drain=args.drain,
        settle=args.settle,
        connect_batch=args.connect_batch,
        connect_interval=args.connect_interval,
        connect_timeout=args.connect_timeout,
        lot=args.lot,
        start_amount=args.start_amount,
        step=args.step,
        text_regex=args.text_regex,
        text_answer_regex=args.text_answer_regex,
        text_min_regex=args.text_min_regex,
        name_prefix=args.name_prefix,
        server_pid=args.server_pid,
        timeout=args.timeout,
        use_uvloop=not args.no_uvloop,
        kernel_timestamps=not args.app_timestamps,
        acceptance_log=args.acceptance_log,
        ports=tuple(int(x) for x in args.ports.split(",") if x),
        server_pids=tuple(int(x) for x in args.server_pids.split(",") if x),
        bidder_port=args.bidder_port,
    )
    report = run_fanout(cfg)
    print(format_report(report), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
