"""The bus of one node: ``publish`` hands the message to every subscriber at once.

Why synchronous: the fan-out batches per loop turn already (FlushPacer); a hop through a queue
or a task here would add a loop turn to every bid's way out and change nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bidwire.bus.base import Handler, Message, sale_message
from bidwire.domain.events import LotEvent, SaleEvent
from bidwire.metrics import BUS_LAG_BUCKETS, Histogram

log = logging.getLogger("bidwire.bus")


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: tuple[Handler, ...] = ()
        self.lag = Histogram(BUS_LAG_BUCKETS)
        """Never filled: a message is heard in the call that publishes it."""
        self._closed = False

    def publish(self, event: LotEvent) -> None:
        self._send(Message("lot", event.lot, event.seq, event))  # lot_message, one call less

    def publish_sale(self, event: SaleEvent) -> None:
        self._send(sale_message(event))

    def _send(self, message: Message) -> None:
        for handler in self._handlers:
            try:
                handler(message)
            except Exception:  # one broken subscriber must not cost the others the event
                log.exception("a bus subscriber failed on %s %s seq %d", *_where(message))

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers += (handler,)

        def unsubscribe() -> None:
            self._handlers = tuple(h for h in self._handlers if h is not handler)

        return unsubscribe

    def watch_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        return lambda: None  # nothing between publish and the handlers can lose a message

    def fault(self) -> str | None:
        """Always ready while open: the bus is this process."""
        return "the bus is closed" if self._closed else None

    def close(self) -> None:
        self._handlers = ()
        self._closed = True


def _where(message: Message) -> tuple[str, str, int]:
    return message.stream, message.key, message.seq
