"""The bus: committed events from the house to every node's fan-out.

Principles:
- Publish after commit: nothing on the bus was not stored first.
- A message is one event with its stream (a lot or a sale) and its ``seq`` in that stream.
  A bus keeps each stream's order, but across nodes it is only a hint: a subscriber checks the
  seq (``InOrder``), drops repeats, and a gap means the missing events are reloaded from the
  store, so a lost message delays an update but never loses or reorders one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple, Protocol

from bidwire.domain.events import LotEvent, SaleEvent
from bidwire.metrics import Histogram

StreamKind = Literal["lot", "sale"]


class Message(NamedTuple):
    """One committed event and its place (a NamedTuple: one is built per bid, and a frozen
    dataclass costs about four times as much to build)."""

    stream: StreamKind
    key: str
    """The lot's or the sale's id."""
    seq: int
    event: LotEvent | SaleEvent


Handler = Callable[[Message], None]
"""Called for each message; it must not block (it runs in the bus's delivery turn)."""


class Bus(Protocol):
    lag: Histogram
    """Seconds from an event's publish (on whichever node) to this bus handing it to the
    subscribers here, for /metrics: a bus between nodes fills it as messages arrive; the
    memory bus hands them over inside ``publish`` and leaves it empty (a lag of 0)."""

    def publish(self, event: LotEvent) -> None:
        """A committed lot event; its stream and seq are its own ``lot`` and ``seq``."""
        ...

    def publish_sale(self, event: SaleEvent) -> None:
        """A committed sale event; its stream and seq are its own ``sale`` and ``seq``."""
        ...

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        """Every message published from now on goes to ``handler``; call the result to stop."""
        ...

    def watch_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``callback`` is called when messages may have been lost without a gap to show it
        (the bus reconnected): the subscriber reloads what it follows from the store. A bus
        inside one process never calls it. Call the result to stop."""
        ...

    def fault(self) -> str | None:
        """Why this bus cannot carry events between nodes now, for a person (cheap: no round
        trip, what the bus last saw), or None. /readyz reports it."""
        ...


def lot_message(event: LotEvent) -> Message:
    return Message("lot", event.lot, event.seq, event)


def sale_message(event: SaleEvent) -> Message:
    return Message("sale", event.sale, event.seq, event)
