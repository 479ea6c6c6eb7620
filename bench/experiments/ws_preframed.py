"""EXPERIMENT (bench only, not the server): WebSocket fan-out with pre-framed bytes.

Run bidwire with this module instead of the ``bidwire`` script (``bidwire-ws-preframed``
below does that) to measure what the change proposed for src/bidwire/transports/ws.py would
give. It patches two things at start:

* uvicorn's websockets-sansio protocol puts itself in the ASGI scope, so a connection can
  reach its transport;
* ``WsConnection.send_batch`` writes the batch's frames straight to that transport when
  nothing is queued before them (order kept), the handshake is done and no close was sent.
  The frames are built once per batch for every connection: a server frame is unmasked and
  uncompressed, so the bytes are the same for all. Otherwise it falls back to the queue.
  Backpressure: past the high-water mark of the transport's buffer the outlet reports
  backed up; a timer polls for the drain and then calls ``on_writable`` (conflation).

Why: the profile of 10,000 WebSocket watchers shows the server's core spent on a task switch,
Starlette's ``send_text``, uvicorn's ``send`` and the sans-I/O framing per event per
connection (~12 us each); a pre-framed ``transport.write`` is one C call.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from uvicorn.protocols.websockets import websockets_sansio_impl as impl

from bidwire.transports import ws

_orig_run_asgi = impl.WebSocketsSansIOProtocol.run_asgi


async def _run_asgi(self: Any) -> None:
    self.scope["bidwire.ws_protocol"] = self
    await _orig_run_asgi(self)


impl.WebSocketsSansIOProtocol.run_asgi = _run_asgi  # type: ignore[method-assign]


def frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


_last: list[Any] = [None, b""]


def frames_of(batch: Any) -> bytes:
    if _last[0] is not batch:
        _last[0], _last[1] = batch, b"".join(frame(item.json) for item in batch.items)
    return _last[1]  # type: ignore[no-any-return]


_orig_send_batch = ws.WsConnection.send_batch


def send_batch(self: Any, batch: Any) -> None:
    proto = self.websocket.scope.get("bidwire.ws_protocol")
    if (
        proto is None
        or self._queue
        or self._closing
        or not proto.handshake_complete
        or proto.close_sent
        or proto.transport.is_closing()
    ):
        _orig_send_batch(self, batch)
        return
    transport = proto.transport
    transport.write(frames_of(batch))
    if not self._backed_up and transport.get_write_buffer_size() > ws.SEND_HIGH_WATER:
        self._backed_up = True
        asyncio.get_running_loop().call_later(0.05, _poll_drain, self, transport)


def _poll_drain(conn: Any, transport: Any) -> None:
    if conn._closing or transport.is_closing():
        return
    if transport.get_write_buffer_size() > ws.SEND_LOW_WATER:
        asyncio.get_running_loop().call_later(0.05, _poll_drain, conn, transport)
        return
    conn._backed_up = False
    conn.session.on_writable()


ws.WsConnection.send_batch = send_batch  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.setswitchinterval(0.001)
    sys.argv[0] = "bidwire"
    from bidwire.cli import main

    main()
