"""A subscriber's check of each stream's seq (pure): in order, once each, gaps held and shown.

Why here and not in each bus: every bus hands over messages the same way, and every subscriber
must refuse a repeat and notice a gap the same way, whatever carried the message.
"""

from __future__ import annotations

from bidwire.bus.base import Message, StreamKind

MAX_HELD = 4_096
"""Messages held behind one stream's gap at most; past it the newest are dropped (the store
has them: the subscriber reloads from the gap on)."""

StreamId = tuple[StreamKind, str]


class InOrder:
    def __init__(self, max_held: int = MAX_HELD) -> None:
        self.max_held = max_held
        self._next: dict[StreamId, int] = {}
        self._held: dict[StreamId, dict[int, Message]] = {}
        self._dropped: dict[StreamId, int] = {}
        """The highest seq dropped past ``max_held``: what is missing up to it is a gap too."""

    def expect(self, stream: StreamKind, key: str, next_seq: int) -> list[Message]:
        """(Re)start a stream at ``next_seq`` (every stream starts at 1 otherwise): what is held
        before it is dropped, and what follows it in order is returned."""
        sid = (stream, key)
        self._next[sid] = next_seq
        if self._dropped.get(sid, next_seq) < next_seq:
            del self._dropped[sid]
        held = self._held.pop(sid, None)
        if not held:
            return []
        kept = {seq: msg for seq, msg in held.items() if seq >= next_seq}
        if not kept:
            return []
        self._held[sid] = kept
        return self._release(sid)

    def accept(self, message: Message) -> list[Message]:
        """What may be passed on now, in order: ``message`` and anything its arrival unblocks;
        nothing for a repeat or for a message after a gap (held until the gap fills)."""
        sid = (message.stream, message.key)
        expected = self._next.get(sid, 1)
        if message.seq < expected:
            return []  # a repeat (a bus may deliver twice): passed on already
        if message.seq == expected and sid not in self._held:
            self._next[sid] = expected + 1  # the usual case, kept cheap: one event per bid
            return [message]
        held = self._held.setdefault(sid, {})
        if message.seq == expected or message.seq in held or len(held) < self.max_held:
            held[message.seq] = message
        else:
            self._dropped[sid] = max(self._dropped.get(sid, 0), message.seq)
        return self._release(sid)

    def _release(self, sid: StreamId) -> list[Message]:
        held = self._held[sid]
        expected = self._next.get(sid, 1)
        out = []
        while expected in held:
            out.append(held.pop(expected))
            expected += 1
        self._next[sid] = expected
        if not held:
            del self._held[sid]
        if sid in self._dropped and self._dropped[sid] < expected:
            del self._dropped[sid]
        return out

    @property
    def has_gaps(self) -> bool:
        """Whether ``gaps`` would name any (cheap: asked on every message held)."""
        return bool(self._held or self._dropped)

    def next_seq(self, stream: StreamKind, key: str) -> int:
        """The seq this stream waits for next (what a reload from the store starts at)."""
        return self._next.get((stream, key), 1)

    def forget(self, stream: StreamKind, key: str) -> None:
        """Keep nothing more of a stream that has ended (a closed lot's)."""
        sid = (stream, key)
        self._next.pop(sid, None)
        self._held.pop(sid, None)
        self._dropped.pop(sid, None)

    def gaps(self) -> dict[StreamId, range]:
        """For each stream with a gap: the seqs missing in front of what it holds, or up to
        the last it had to drop."""
        gaps = {sid: range(self._next.get(sid, 1), min(held)) for sid, held in self._held.items()}
        for sid, top in self._dropped.items():
            start = self._next.get(sid, 1)
            if sid not in gaps and start <= top:
                gaps[sid] = range(start, top + 1)
        return gaps

    def drop(self, stream: StreamKind, key: str) -> None:
        """Forget a stream (its lot is gone from this node)."""
        self._next.pop((stream, key), None)
        self._held.pop((stream, key), None)
        self._dropped.pop((stream, key), None)
