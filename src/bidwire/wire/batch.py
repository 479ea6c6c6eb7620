"""The feed's wire forms: each event encoded once, a loop turn's events joined once per form.

JSON lines (TCP), WebSocket text frames (built once for every connection: server frames are
unmasked and ours uncompressed) and text-mode lines; in an anonymous sale a second JSON form
that names the bidder, for admins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from bidwire.domain.events import LotEvent
from bidwire.domain.lot import Lot
from bidwire.wire import text
from bidwire.wire.frames import text_frame

encode_event = msgspec.json.Encoder().encode


def text_line(shown: LotEvent, lot: Lot) -> bytes:
    """What text-mode watchers read for ``shown``; ``lot`` is its state after it. Nothing,
    not a blank line, for an event they are told nothing about."""
    line = text.render_event(shown, lot)
    return (line + "\n").encode() if line else b""


def countdown_line(lot: Lot, at_ms: int) -> bytes:
    """The "going once / going twice" call text-mode watchers hear at ``at_ms``."""
    return (text.render_countdown(lot, at_ms) + "\n").encode()


@dataclass(slots=True)
class Outgoing:
    """One event, encoded once (twice in an anonymous sale: ``private`` names the bidder)."""

    lot: str | None
    json: bytes
    text: bytes = b""
    private: bytes | None = None


@dataclass(slots=True)
class Batch:
    """A loop turn's events for one audience; the joined forms are built on first use."""

    items: list[Outgoing]
    _json_lines: bytes | None = field(default=None)
    _text_lines: bytes | None = field(default=None)
    _ws_frames: bytes | None = field(default=None)
    _for_admins: Batch | None = field(default=None)

    @property
    def for_admins(self) -> Batch:
        """The same events with real bidder names (only anonymous sales differ)."""
        if self._for_admins is None:
            if all(item.private is None for item in self.items):
                self._for_admins = self
            else:
                self._for_admins = Batch(
                    [
                        Outgoing(item.lot, item.private or item.json, item.text)
                        for item in self.items
                    ]
                )
        return self._for_admins

    @property
    def json_lines(self) -> bytes:
        if self._json_lines is None:
            self._json_lines = b"".join(item.json + b"\n" for item in self.items)
        return self._json_lines

    @property
    def ws_frames(self) -> bytes:
        """One WebSocket text frame per event."""
        if self._ws_frames is None:
            self._ws_frames = b"".join(text_frame(item.json) for item in self.items)
        return self._ws_frames

    @property
    def text_lines(self) -> bytes:
        if self._text_lines is None:
            self._text_lines = b"".join(item.text for item in self.items if item.text)
        return self._text_lines
