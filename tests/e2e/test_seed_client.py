"""The original client.py, byte for byte: bare digits with no line end, prints what it gets."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from tests.e2e.conftest import write_catalog


def seed_client(port: int, typed: list[str], received: list[str]) -> None:
    """What the seed's client did: a thread prints every line; input() goes out as typed."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def receive() -> None:
        buffer = b""
        while True:
            try:
                data = sock.recv(1024)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                received.append(line.decode())

    threading.Thread(target=receive, daemon=True).start()
    time.sleep(0.8)  # the person reads the greeting before typing
    for message in typed:
        sock.send(message.encode())  # no line end, exactly as the seed did
        time.sleep(0.5)
    sock.close()


def test_the_original_client_bids_with_bare_digits(server_factory: Any, tmp_path: Any) -> None:
    catalog = write_catalog(tmp_path, [{"title": "Vintage Watch", "starting_price": 100}])
    server = server_factory("--catalog", catalog, "--opening-seconds", "60")
    received: list[str] = []
    seed_client(server.port, ["150", "90", "hello there"], received)
    text = "\n".join(received)
    assert "Welcome to bidwire" in text
    assert "On the block: Vintage Watch" in text
    assert "Bid accepted: 150.00 USD on Vintage Watch" in text
    assert "New high bid: 150.00 USD" in text
    assert "Bid refused" in text and "[already_leading]" in text
    assert "I did not understand" in text
    assert all(line.isprintable() for line in received), "lines must be readable text"
