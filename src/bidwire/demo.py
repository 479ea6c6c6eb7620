"""The demo that stays alive (``bidwire serve --demo``, what ``make run`` starts).

Principles:
- A run is the five sample items in one live sale (``catalog.demo_catalog``): ``demo``, then
  ``demo-2``, ``demo-3``... with their lots' ids suffixed the same way, so every run is a sale
  of its own in the log (closed lots are never reopened) and every bid stays in its history.
- When a run ends (done or cancelled), the next is scheduled ``pause_ms`` later, in the same
  moment: it is in the catalog (``/api/sales``: state ``scheduled``, ``starts_at``) before the
  ``sale_ended`` is published, so a page that looks on hearing the end can say "next sale at
  ...". The house's scheduler starts it; nothing here sleeps.
- No pile of copies: of the finished runs only the latest stays listed (its results are worth
  seeing); older ones are retired from the lists (``AuctionHouse.retire_sale``). Their lots and
  bids stay in the store (the audit trail; an admin still reads a lot's bids by its id), and a
  restart retires them again. Reusing one sale instead would have meant reopening closed lots.
- A demo run is told by its id and title, so an admin's own sales are never touched.
- Several nodes (a cluster): the node deciding a run adds the next in its end hook; the
  others learn it from the store and tidy their own lists when they see a run end.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from bidwire.catalog import Defaults, demo_catalog
from bidwire.domain.sale import Sale, SaleSpec
from bidwire.engine.house import AuctionHouse
from bidwire.errors import BadRequest

log = logging.getLogger("bidwire.demo")

DEMO_TITLE = "Demo sale"
_RUN_ID = re.compile(r"demo(?:-(\d+))?")


def run_number(spec: SaleSpec) -> int | None:
    """Which run of the demo a sale is (1, 2, ...), or None if it is not the demo's."""
    found = _RUN_ID.fullmatch(spec.id)
    if found is None or not spec.title.startswith(DEMO_TITLE):
        return None
    return int(found.group(1) or 1)


class DemoRuns:
    """Keeps one run of the demo on the block or scheduled, and the lists short."""

    def __init__(self, house: AuctionHouse, defaults: Defaults, pause_ms: int) -> None:
        self.house = house
        self.defaults = defaults
        self.pause_ms = pause_ms

    async def begin(self, *, now: bool) -> None:
        """At start: retire old runs, put a run on the block if ``now`` (a fresh store, or
        every earlier sale is over), and follow each run's end from here on."""
        self.tidy()
        if now and not self._waiting():
            await self.next_run(None)
        self.house.sale_end_hooks.append(self._ended)
        self.house.followed_end_hooks.append(self._followed_end)

    def runs(self) -> list[Sale]:
        return [s for s in self.house.sales.values() if run_number(s.spec) is not None]

    def _waiting(self) -> bool:
        """Whether a run is on the block, paused or scheduled."""
        return any(sale.ended_at is None for sale in self.runs())

    async def _ended(self, sale: Sale) -> None:
        if run_number(sale.spec) is None or self._waiting():
            return
        assert sale.ended_at is not None
        await self.next_run(sale.ended_at + self.pause_ms)
        self.tidy()

    def _followed_end(self, sale: Sale) -> None:
        """Another node decides the runs (a cluster): it adds the next; this one keeps its
        own lists as short as that node's."""
        if run_number(sale.spec) is not None:
            self.tidy()

    async def next_run(self, starts_at: int | None) -> SaleSpec:
        """The five items again, in a sale starting at ``starts_at`` (now if None)."""
        ((sale, lots),) = demo_catalog(self.defaults, self.house.lot_ids(), self.house.sale_ids())
        number = run_number(sale)
        assert number is not None
        title = DEMO_TITLE if number == 1 else f"{DEMO_TITLE}, run {number}"
        sale = dataclasses.replace(sale, title=title, starts_at=starts_at)
        try:
            await self.house.add_sale(sale, lots)
        except BadRequest:
            if self.house.owned is None:
                raise
            # several nodes started on one store: another put this run on the block first
            await self.house.learn_catalog()
            return sale
        self.house.run_due()  # arms the scheduler for its start
        if starts_at is not None:  # the first goes on the block before the server listens
            log.info("demo run %d (%s) scheduled for %d ms", number, sale.id, starts_at)
        return sale

    def tidy(self) -> None:
        """Every finished run but the latest leaves the lists."""
        finished = [sale for sale in self.runs() if sale.ended_at is not None]
        finished.sort(key=lambda sale: (sale.ended_at or 0, run_number(sale.spec) or 0))
        for sale in finished[:-1]:
            self.house.retire_sale(sale.id)
