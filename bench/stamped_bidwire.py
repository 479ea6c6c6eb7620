"""bidwire with acceptance stamps, for the fan-out benchmark's staleness from acceptance.

    python bench/stamped_bidwire.py LOG serve [bidwire serve options]

The issue measures staleness "from a bid's acceptance on the server". bidwire accepts a bid when
its commit is confirmed (``bid_accepted`` is sent only after that); the confirmation reaches the
event loop in ``AuctionHouse._committed``, which then publishes the bid. This wrapper stamps that
moment with ``time.time()`` (the clock of the generator's kernel receive stamps) and, once the
publish is scheduled, appends ``<lot> <amount> <stamp>`` to LOG (a line a bid, line-buffered, so
the generator can read it as soon as the bids are answered). Nothing else changes; the baseline
writes the same lines with ``--acceptance-log``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO

from bidwire.cli import main
from bidwire.domain.events import BidPlaced, LotEvent
from bidwire.engine.house import AuctionHouse


def install(log: TextIO) -> None:
    committed = AuctionHouse._committed

    def stamped(
        self: AuctionHouse,
        lot_id: str,
        events: list[LotEvent],
        future: asyncio.Future[None],
        *rest: Any,
    ) -> None:
        at = time.time()
        committed(self, lot_id, events, future, *rest)  # the rest: when the commit began
        if future.cancelled() or future.exception() is not None:
            return
        for event in events:
            if isinstance(event, BidPlaced):
                log.write(f"{event.lot} {event.amount} {at!r}\n")

    AuctionHouse._committed = stamped  # type: ignore[method-assign]


if __name__ == "__main__":
    install(open(sys.argv[1], "w", buffering=1))  # noqa: SIM115 (open for the process's life)
    sys.argv = ["bidwire", *sys.argv[2:]]
    main()
