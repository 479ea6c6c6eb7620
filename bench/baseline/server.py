"""The original student auction server, rebuilt as the benchmark's baseline.

This is deliberately NOT good code. It reproduces the seed's design so that bidwire has something
honest to be compared against:

* one thread per client, blocking sockets;
* one global lock around all auction state;
* a ``threading.Timer`` countdown per item, cancelled and restarted by every accepted bid;
* every event is one text line written to every client with ``sock.sendall`` in a loop, while
  the global lock is held. One slow reader therefore stalls the whole house, and the time to
  announce a bid grows with the number of clients. That is the behaviour being measured, so do
  not optimise it.

Standard library only. Wire format (one event per line, fields separated by single spaces; the
amount comes before the item so that item names may contain spaces):

    WELCOME <you>
    ITEM <price> <item>                 an item is on the block, at its starting price
    NEW_BID <amount> <bidder> <item>    a new high bid, sent to every client
    ERROR <reason>                      to the bidder only: too low, not a number, no item
    SOLD <amount> <bidder> <item> / UNSOLD <price> <item>
    AUCTION_OVER

A bid is the bare digits of a whole number. The original client sent ``b"150"`` with no line
end, so each ``recv`` chunk is taken as complete and split on whitespace: ``b"150"`` and
``b"150\\n"`` both work. (Two unterminated bids coalesced by TCP read as one number, exactly as
in the original.)

    python bench/baseline/server.py --port 0 [--countdown 10] [--gap 2] [--wait-clients N]
        [--backlog 128] [--acceptance-log FILE]

prints ``LISTENING <port>`` on stdout once bound, and nothing else. Two set-up flags are not in
the original: ``--wait-clients`` holds the first item until N clients are in (the original
opened it at start-up, so a slow connect phase would eat the first countdown), and
``--backlog`` (the original's ``listen()`` gave 128, which 500 simultaneous connects overflow).
Neither changes anything once the clients are connected. ``--acceptance-log`` (benchmark
instrumentation) records when each bid was accepted, for staleness measured from acceptance.
"""

from __future__ import annotations

import argparse
import resource
import socket
import threading
import time
from collections.abc import Callable
from typing import TextIO

ITEMS: list[tuple[str, int]] = [
    ("Vintage Watch", 100),
    ("Antique Vase", 50),
    ("Classic Car", 5000),
    ("Gaming Laptop", 1500),
    ("Smartphone", 700),
]


class Auction:
    """All auction state, guarded by one lock, as in the original."""

    def __init__(self, countdown: float, gap: float) -> None:
        self.countdown = countdown
        self.gap = gap
        self.lock = threading.Lock()
        self.clients: dict[socket.socket, str] = {}
        self.index = -1  # position in ITEMS; -1 before the first item opens
        self.open = False
        self.price = 0
        self.bidder: str | None = None
        self.timer: threading.Timer | None = None
        # The original had no such guard: a timer that fired while a bid held the lock would
        # still close the item afterwards. The guard only removes that race; it costs nothing
        # and keeps the benchmark's item sequence predictable.
        self.generation = 0
        self.acceptance_log: TextIO | None = None

    # -- everything below runs with self.lock held ------------------------------------------

    def broadcast(self, line: str) -> None:
        data = line.encode()
        for sock in list(self.clients):
            try:
                sock.sendall(data)  # blocking, under the global lock: the point of the baseline
            except OSError:
                self.clients.pop(sock, None)

    def send_to(self, sock: socket.socket, line: str) -> None:
        try:
            sock.sendall(line.encode())
        except OSError:
            self.clients.pop(sock, None)

    def start_timer(self, delay: float, action: Callable[[], None]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.generation += 1
        self.timer = threading.Timer(delay, self.on_timer, args=(self.generation, action))
        self.timer.daemon = True
        self.timer.start()

    def open_next(self) -> None:
        self.index += 1
        if self.index >= len(ITEMS):
            self.open = False
            self.broadcast("AUCTION_OVER\n")
            return
        name, price = ITEMS[self.index]
        self.open, self.price, self.bidder = True, price, None
        self.broadcast(f"ITEM {price} {name}\n")
        self.start_timer(self.countdown, self.close_item)

    def close_item(self) -> None:
        name, _ = ITEMS[self.index]
        self.open = False
        if self.bidder is None:
            self.broadcast(f"UNSOLD {self.price} {name}\n")
        else:
            self.broadcast(f"SOLD {self.price} {self.bidder} {name}\n")
        self.start_timer(self.gap, self.open_next)

    def bid(self, sock: socket.socket, who: str, token: bytes) -> None:
        try:
            amount = int(token)
        except ValueError:
            self.send_to(sock, "ERROR not a whole number\n")
            return
        if not self.open:
            self.send_to(sock, "ERROR no item on the block\n")
            return
        if amount <= self.price:
            self.send_to(sock, f"ERROR bid must be higher than {self.price}\n")
            return
        self.price, self.bidder = amount, who
        accepted_at = time.time()  # accepted: decided under the lock, before anyone is told
        self.broadcast(f"NEW_BID {amount} {who} {ITEMS[self.index][0]}\n")
        if self.acceptance_log is not None:  # benchmark instrumentation, after the broadcast
            self.acceptance_log.write(f"- {amount} {accepted_at!r}\n")
        self.start_timer(self.countdown, self.close_item)

    # -- entry points from threads ----------------------------------------------------------

    def start(self) -> None:
        with self.lock:
            if self.index == -1:
                self.open_next()

    def on_timer(self, generation: int, action: Callable[[], None]) -> None:
        with self.lock:
            if generation == self.generation:
                action()

    def serve_client(self, sock: socket.socket, who: str) -> None:
        with self.lock:
            self.clients[sock] = who
            self.send_to(sock, f"WELCOME {who}\n")
            if self.open:
                self.send_to(sock, f"ITEM {self.price} {ITEMS[self.index][0]}\n")
        try:
            while True:
                try:
                    data = sock.recv(1024)
                except OSError:
                    break
                if not data:
                    break
                for token in data.split():
                    with self.lock:
                        self.bid(sock, who, token)
        finally:
            with self.lock:
                self.clients.pop(sock, None)
            sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--countdown", type=float, default=10.0, help="seconds, reset per bid")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between items")
    parser.add_argument(
        "--backlog", type=int, default=128, help="listen backlog; 128 is what listen() gives"
    )
    parser.add_argument(
        "--wait-clients",
        type=int,
        default=0,
        help="open the first item only once this many clients are connected (0: at once)",
    )
    parser.add_argument(
        "--acceptance-log",
        default=None,
        help="benchmark only: append '- <amount> <time.time()>' per accepted bid to this file",
    )
    args = parser.parse_args(argv)

    # Thousands of clients need thousands of descriptors; the original never hit this because
    # nobody ever connected more than a handful of terminals.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    auction = Auction(args.countdown, args.gap)
    if args.acceptance_log:
        auction.acceptance_log = open(args.acceptance_log, "w", buffering=1)  # noqa: SIM115
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(args.backlog)
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)

    # The original opened the first item at start-up. A benchmark needs every client connected
    # before the first countdown runs out, hence --wait-clients.
    if args.wait_clients <= 0:
        auction.start()

    number = 0
    try:
        while True:
            sock, _ = listener.accept()
            number += 1
            if number == args.wait_clients:
                # A moment later, so that this client's own thread has registered it too.
                threading.Timer(0.1, auction.start).start()
            who = f"client{number}"
            threading.Thread(target=auction.serve_client, args=(sock, who), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()


if __name__ == "__main__":
    main()
