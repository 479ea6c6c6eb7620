"""WebSocket frames the server sends (RFC 6455), built once per batch for every connection.

A server's frames are unmasked, and ours uncompressed, so one event's frame is the same bytes
for every WebSocket watcher: the feed can build them once and write them to each socket.
"""

from __future__ import annotations


def text_frame(payload: bytes) -> bytes:
    """An unfragmented, unmasked text frame (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload
