"""Several nodes: which node decides which sale, and what the others do (issue 14).

Principles:
- One writer per sale. The node holding a sale's lease (a store row with an epoch, taken when
  free or expired) decides its bids, closes, openings and start; the store refuses an append
  under a stale epoch (LeaseLost), so an owner that was paused or cut off past its lease
  cannot write after another took over.
- Every other node follows. It applies the owner's committed events from the bus to its copy
  (``AuctionHouse.follow``), so its reads and fan-out stay local, and it forwards bids to the
  owner (a ``Forwarder``); any node serves any client.
- Taking over is a restart of one sale. The new owner reads the sale and its open lots again
  from the store (the truth, whatever the bus lost) and resumes them as after a restart: a
  lot whose deadline passed while no node could decide gets a fresh window, announced.
- A node stops deciding before its lease can run out: when it could not renew for the lease
  time less a margin, it lets the sale go (the fence would refuse its writes anyway; this
  keeps it from accepting bids it cannot store).
- Time for leases is the store's clock (the database's); each node's own clock only paces it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from bidwire.clock import Clock, OffsetClock
from bidwire.engine.house import AuctionHouse
from bidwire.errors import StoreUnavailable

log = logging.getLogger("bidwire.cluster")

LEASE_MS = 3_000
"""How long a lease lasts unless renewed: a dead owner's sales are taken within it (plus one
renewal period)."""
RENEW_EVERY_MS = 1_000
MARGIN_MS = 500
"""A node unable to renew stops deciding this long before its lease could have run out."""


class LeaseInfo(Protocol):
    @property
    def sale_id(self) -> str: ...
    @property
    def holder(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def expires_at(self) -> int: ...


@runtime_checkable
class Leases(Protocol):
    """What the store offers for leases (store/postgres.py; store/memory_leases.py)."""

    async def acquire_lease(self, sale_id: str, holder: str, ttl_ms: int) -> int | None: ...

    async def renew_lease(self, sale_id: str, holder: str, epoch: int, ttl_ms: int) -> bool: ...

    async def release_lease(self, sale_id: str, holder: str, epoch: int) -> bool: ...

    async def leases(self) -> Sequence[LeaseInfo]: ...

    async def db_now_ms(self) -> int: ...


CLOCK_SAMPLES = 5
"""Readings of the database's clock kept; the one with the shortest round trip sets the offset."""


def clock_offset(samples: Sequence[tuple[int, int, int]]) -> int:
    """The offset of the database's clock from a node's, from readings (sent, database, back)
    in ms: the reading with the shortest round trip, the database taken as read halfway
    (NTP's rule; its error is at most half that round trip); of equal ones, the newest."""
    sent, db, back = min(reversed(samples), key=lambda s: s[2] - s[0])
    return db - (sent + back) // 2


async def clock_reading(base: Clock, leases: Leases) -> tuple[int, int, int]:
    """One reading of the database's clock: (sent, database, back), ``base`` being the node's
    own. A node sets its clock by one before it reads it for anything (``clock_offset``)."""
    sent = base.now_ms()
    db = await leases.db_now_ms()
    return sent, db, base.now_ms()


class Cluster:
    """This node's part: it keeps the leases of the sales it decides, takes the free or
    expired ones of sales not ended, and knows who holds the others (``owners``)."""

    def __init__(
        self,
        house: AuctionHouse,
        leases: Leases,
        node: str,
        clock: Clock,
        *,
        lease_ms: int = LEASE_MS,
        renew_every_ms: int = RENEW_EVERY_MS,
        on_change: Callable[[str, str], None] | None = None,
        synced: OffsetClock | None = None,
    ) -> None:
        if not 0 < renew_every_ms < lease_ms - MARGIN_MS:
            raise ValueError("renew more often than a lease lasts, less the margin")
        self.house = house
        self.leases = leases
        self.node = node
        self.clock = clock
        self.lease_ms = lease_ms
        self.renew_every_ms = renew_every_ms
        self.on_change = on_change
        """Told (sale, "acquired" | "renewed" | "lost" | "released") at every change of this
        node's leases and every renewal (``metrics.lease_changed``)."""
        self.held: dict[str, int] = {}
        """Sale -> the epoch of its lease, for the sales this node decides."""
        self._renewed_at: dict[str, int] = {}
        """Sale -> this node's clock at its last renewal (what it lets go by)."""
        self.owners: dict[str, str] = {}
        """Sale -> the node holding a live lease on it (at the last step)."""
        self.changes = 0
        self.synced = synced
        """The clock this node decides by, kept at the database's (None: not kept)."""
        self._clock_samples: list[tuple[int, int, int]] = []
        house.owned = set()
        self._task: asyncio.Task[None] | None = None

    def owner_of(self, sale_id: str) -> str | None:
        return self.owners.get(sale_id)

    def holds_all(self) -> bool:
        """Whether every sale not ended has a live owner (``/readyz``'s "leases held")."""
        return self.fault() is None

    def fault(self) -> str | None:
        """Why some sale has no node deciding it, in words (``/readyz``), or None."""
        orphans = [
            sale.id
            for sale in self.house.sales.values()
            if sale.ended_at is None and sale.id not in self.owners
        ]
        if not orphans:
            return None
        shown = ", ".join(orphans[:5]) + (" and more" if len(orphans) > 5 else "")
        return f"no node holds the lease of sale {shown} yet"

    async def step(self) -> None:
        """One round: the clock set by the database's, renew, let go what could not be renewed
        in time, learn the sales others added, read who holds what, take what is free,
        release what has ended."""
        if self.synced is not None:
            await self._sync_clock(self.synced)
        for sale_id, epoch in list(self.held.items()):
            try:
                kept = await self.leases.renew_lease(sale_id, self.node, epoch, self.lease_ms)
            except Exception as exc:  # the store is unreachable: wait, and let go in time
                log.warning("could not renew the lease of sale %s: %s", sale_id, exc)
                self._let_go_if_late(sale_id)
                continue
            if kept:
                self._renewed_at[sale_id] = self.clock.now_ms()
                if self.on_change is not None:
                    self.on_change(sale_id, "renewed")
                if sale_id not in (self.house.owned or ()):
                    await self.house.adopt(sale_id)  # renewed after a let-go: still ours
            else:
                self._lose(sale_id, "lost")
        await self.house.learn_catalog()  # a sale another node added is one to run too
        rows = await self.leases.leases()
        now = await self.leases.db_now_ms()
        live = {row.sale_id: row.holder for row in rows if row.expires_at > now}
        before, self.owners = self.owners, live
        if live != before:
            self._owners_changed()
        for sale in list(self.house.sales.values()):
            if sale.ended_at is not None:
                if sale.id in self.held and not self.house.busy(sale.id):
                    await self._release(sale.id)
                continue
            if sale.id in self.held or sale.id in live:
                continue
            taken = await self.leases.acquire_lease(sale.id, self.node, self.lease_ms)
            if taken is None:
                continue
            self.held[sale.id] = taken
            self._renewed_at[sale.id] = self.clock.now_ms()
            self.owners[sale.id] = self.node
            self._changed(sale.id, "acquired")
            await self.house.adopt(sale.id)
            self._owners_changed()  # after adopt: a bid sent again finds the sale as stored

    def _owners_changed(self) -> None:
        if self.house.forwarder is not None:  # asks waiting on an owner gone are answered
            self.house.forwarder.owners_changed()

    async def _sync_clock(self, synced: OffsetClock) -> None:
        reading = await clock_reading(synced.base, self.leases)
        self._clock_samples = [*self._clock_samples[-(CLOCK_SAMPLES - 1) :], reading]
        synced.offset_ms = clock_offset(self._clock_samples)

    def _let_go_if_late(self, sale_id: str) -> None:
        renewed = self._renewed_at.get(sale_id, 0)
        if self.clock.now_ms() - renewed >= self.lease_ms - MARGIN_MS:
            self.house.release(sale_id)  # the epoch is kept: a later renewal takes it back

    def _lose(self, sale_id: str, why: str) -> None:
        self.held.pop(sale_id, None)
        self._renewed_at.pop(sale_id, None)
        self.house.release(sale_id)
        self._changed(sale_id, why)

    async def _release(self, sale_id: str) -> None:
        epoch = self.held.get(sale_id)
        self._lose(sale_id, "released")
        if epoch is not None:
            try:
                await self.leases.release_lease(sale_id, self.node, epoch)
            except Exception as exc:  # it runs out by itself
                log.warning("could not release the lease of sale %s: %s", sale_id, exc)

    def _changed(self, sale_id: str, how: str) -> None:
        self.changes += 1
        log.info("node %s: sale %s %s", self.node, sale_id, how)
        if self.on_change is not None:
            self.on_change(sale_id, how)

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except StoreUnavailable as exc:  # an outage: said in words, tried at the next beat
                log.warning("node %s: a lease step failed: %s", self.node, exc)
            except Exception:  # a step that failed is tried again at the next beat
                log.exception("node %s: a lease step failed", self.node)
            await asyncio.sleep(self.renew_every_ms / 1000)

    async def stop(self, *, release: bool = True) -> None:
        """Stop renewing; ``release``: hand every lease back at once (a clean stop, so the
        others take over without waiting for them to run out)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if release:
            for sale_id in list(self.held):
                await self._release(sale_id)
