"""Leases in memory, for several houses in one process (tests of engine/cluster.py).

The same rules as the PostgreSQL store's ``leases`` table (store/postgres.py): a lease is taken
when it is free, expired or already the taker's, each taking bumps the epoch, a renewal holds
only with the same holder and epoch (expired or not: nobody took it meanwhile, or the epoch
would have moved). Time is the given clock's (the database's, there).
"""

from __future__ import annotations

from dataclasses import dataclass

from bidwire.clock import Clock


@dataclass(frozen=True, slots=True)
class MemoryLease:
    sale_id: str
    holder: str
    epoch: int
    expires_at: int


class MemoryLeases:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._rows: dict[str, MemoryLease] = {}

    async def acquire_lease(self, sale_id: str, holder: str, ttl_ms: int) -> int | None:
        if ttl_ms <= 0:
            raise ValueError(f"a lease lasts a positive time, not {ttl_ms} ms")
        now = self.clock.now_ms()
        row = self._rows.get(sale_id)
        if row is not None and row.holder != holder and row.expires_at > now:
            return None
        epoch = (row.epoch if row is not None else 0) + 1
        self._rows[sale_id] = MemoryLease(sale_id, holder, epoch, now + ttl_ms)
        return epoch

    async def renew_lease(self, sale_id: str, holder: str, epoch: int, ttl_ms: int) -> bool:
        row = self._rows.get(sale_id)
        now = self.clock.now_ms()
        # expired and not taken since is still this holder's: the epoch is the fence
        if row is None or (row.holder, row.epoch) != (holder, epoch):
            return False
        self._rows[sale_id] = MemoryLease(sale_id, holder, epoch, now + ttl_ms)
        return True

    async def release_lease(self, sale_id: str, holder: str, epoch: int) -> bool:
        row = self._rows.get(sale_id)
        if row is None or (row.holder, row.epoch) != (holder, epoch):
            return False
        self._rows[sale_id] = MemoryLease(sale_id, holder, epoch, self.clock.now_ms())
        return True

    async def leases(self) -> list[MemoryLease]:
        return [self._rows[sale] for sale in sorted(self._rows)]

    async def db_now_ms(self) -> int:
        return self.clock.now_ms()
