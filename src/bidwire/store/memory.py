"""An in-memory store with the same contract, for tests and throwaway demos."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import cast

import msgspec

from bidwire.accounts.records import UserRecord, UserRole
from bidwire.domain.events import (
    KEYED_EVENT_TYPES,
    SALE_EVENT_TYPES,
    BidPlaced,
    BidVoided,
    KeyedEvent,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    LotResumed,
    SaleEvent,
)
from bidwire.domain.lot import LotSnapshot, LotSpec
from bidwire.domain.names import skeleton
from bidwire.domain.sale import SaleSpec
from bidwire.errors import BadRequest, Conflict, SeqConflict, StoreUnavailable
from bidwire.store.base import (
    BidderPart,
    BidderTally,
    BidTally,
    CatalogLot,
    ListingEntry,
    LotLog,
    LotRun,
    LotTally,
    LotTerms,
    ReportFacts,
    StoredLot,
    StoredSale,
)
from bidwire.store.memory_activity import MemoryActivity
from bidwire.store.memory_history import MemoryHistory


class MemoryAccounts:
    """The account side of the in-memory store."""

    def __init__(self) -> None:
        self.users: dict[str, UserRecord] = {}
        self.tokens: dict[str, tuple[int, int, bool]] = {}
        self.audit_entries: list[tuple[int, str, str, str]] = []
        self.guest_sessions: dict[str, tuple[str, int]] = {}
        """Guest sessions that have bid: token hash -> (name, last_seen)."""

    async def create_user(
        self, username: str, role: UserRole, password_hash: str, now_ms: int
    ) -> UserRecord:
        if username.casefold() in self.users:
            raise Conflict(f"the username {username!r} is taken")
        user = UserRecord(len(self.users) + 1, username, role, password_hash, False, now_ms)
        self.users[username.casefold()] = user
        return user

    async def get_user(self, username: str) -> UserRecord | None:
        return self.users.get(username.casefold())

    async def user_like(self, name: str) -> UserRecord | None:
        wanted = skeleton(name)
        return next((u for u in self.users.values() if skeleton(u.username) == wanted), None)

    async def list_users(self) -> list[UserRecord]:
        return sorted(self.users.values(), key=lambda u: u.id)

    async def update_user(
        self,
        user_id: int,
        *,
        blocked: bool | None = None,
        role: UserRole | None = None,
        password_hash: str | None = None,
    ) -> None:
        for key, user in self.users.items():
            if user.id == user_id:
                self.users[key] = replace(
                    user,
                    blocked=user.blocked if blocked is None else blocked,
                    role=role or user.role,
                    password_hash=password_hash or user.password_hash,
                )

    async def add_token(self, token_hash: str, user_id: int, expires_at: int) -> None:
        self.tokens[token_hash] = (user_id, expires_at, False)

    async def token_user(self, token_hash: str, now_ms: int) -> UserRecord | None:
        entry = self.tokens.get(token_hash)
        if entry is None or entry[2] or entry[1] <= now_ms:
            return None
        return next((u for u in self.users.values() if u.id == entry[0]), None)

    async def revoke_token(self, token_hash: str) -> None:
        if token_hash in self.tokens:
            user_id, expires, _ = self.tokens[token_hash]
            self.tokens[token_hash] = (user_id, expires, True)

    async def revoke_user_tokens(self, user_id: int) -> None:
        for key, (uid, expires, _) in list(self.tokens.items()):
            if uid == user_id:
                self.tokens[key] = (uid, expires, True)

    async def audit(self, actor: str, action: str, detail: str, now_ms: int) -> None:
        self.audit_entries.append((now_ms, actor, action, detail))

    async def audit_log(self, limit: int) -> list[tuple[int, str, str, str]]:
        return list(reversed(self.audit_entries))[:limit]

    async def save_guest(self, token_hash: str, name: str, last_seen: int) -> None:
        seen = max(last_seen, self.guest_sessions.get(token_hash, ("", last_seen))[1])
        self.guest_sessions[token_hash] = (name, seen)

    async def drop_guest(self, token_hash: str) -> None:
        self.guest_sessions.pop(token_hash, None)

    async def kept_guests(self, since_ms: int, limit: int) -> list[tuple[str, str, int]]:
        newest = sorted(self.guest_sessions.items(), key=lambda item: -item[1][1])
        kept = [(key, name, seen) for key, (name, seen) in newest if seen >= since_ms][:limit]
        self.guest_sessions = {key: (name, seen) for key, name, seen in kept}
        return kept


class MemoryStore(MemoryAccounts, MemoryActivity, MemoryHistory):
    def __init__(self) -> None:
        MemoryAccounts.__init__(self)
        MemoryActivity.__init__(self)
        self.sales: dict[str, StoredSale] = {}
        """Each sale with its whole log (tests read it)."""
        self.lots: dict[str, StoredLot] = {}
        """Each lot with its whole log (tests read it)."""
        self.snapshots: dict[str, LotSnapshot] = {}
        self.request_keys: dict[str, KeyedEvent] = {}
        self.listing: dict[str, ListingEntry] = {}
        self.fail_appends: bool | Exception = False
        """Tests set this to see how the engine survives a store that cannot commit: True,
        StoreUnavailable; an exception, that one (what another store refuses with)."""

    def _failure(self) -> Exception:
        if isinstance(self.fail_appends, Exception):
            return self.fail_appends
        return StoreUnavailable("the store is failing on purpose")

    async def catalog(self, *, closed: bool = True) -> tuple[list[SaleSpec], list[CatalogLot]]:
        lots = [
            CatalogLot(lot.spec, lot.sale, lot.mode)
            for lot in self.lots.values()
            if closed or not (lot.events and isinstance(lot.events[-1], LotClosed))
        ]
        return [sale.spec for sale in self.sales.values()], lots

    async def catalog_lots(self, lot_ids: Sequence[str]) -> list[CatalogLot]:
        found = [self.lots[lot_id] for lot_id in lot_ids if lot_id in self.lots]
        return [CatalogLot(lot.spec, lot.sale, lot.mode) for lot in found]

    async def sale_logs(self) -> dict[str, list[SaleEvent]]:
        return {sale_id: list(sale.events) for sale_id, sale in self.sales.items() if sale.events}

    async def sale_log(self, sale_id: str) -> list[SaleEvent]:
        return list(self.sales[sale_id].events)

    async def lot_logs(self, lot_ids: Sequence[str] | None = None) -> dict[str, LotLog]:
        wanted = self.lots if lot_ids is None else [i for i in lot_ids if i in self.lots]
        return {lot_id: await self.lot_log(lot_id) for lot_id in wanted}

    async def lot_log(self, lot_id: str) -> LotLog:
        snapshot = self.snapshots.get(lot_id)
        after = snapshot.seq if snapshot is not None else 0
        return LotLog(snapshot, self.lots[lot_id].events[after:])

    async def save_snapshots(self, lots: Sequence[tuple[str, LotSnapshot]]) -> None:
        for lot_id, snapshot in lots:
            events = self.lots[lot_id].events
            if (events[-1].seq if events else 0) == snapshot.seq:
                self.snapshots[lot_id] = snapshot

    async def request_keys_since(self, since_ms: int, limit: int) -> list[tuple[str, KeyedEvent]]:
        recent = [(key, bid) for key, bid in self.request_keys.items() if bid.ts > since_ms]
        recent.sort(key=lambda item: item[1].ts, reverse=True)
        return recent[:limit]

    async def add_sale(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        if sale.id in self.sales or any(lot.id in self.lots for lot in lots):
            raise BadRequest(f"cannot add sale {sale.id}: an id is already taken")
        self.sales[sale.id] = StoredSale(sale)
        for lot in lots:
            self.lots[lot.id] = StoredLot(lot, sale.id, sale.mode)

    async def add_lots(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        if sale.id not in self.sales or any(lot.id in self.lots for lot in lots):
            raise ValueError(f"no sale {sale.id}, or one of the lots already exists")
        self.sales[sale.id].spec = sale
        for lot in lots:
            self.lots[lot.id] = StoredLot(lot, sale.id, sale.mode)

    def append(
        self,
        events: Sequence[LotEvent] | Sequence[SaleEvent],
        request_key: str | None = None,
        snapshot: LotSnapshot | None = None,
    ) -> asyncio.Future[None]:
        first = events[0]
        if isinstance(first, SALE_EVENT_TYPES):
            return self._append_sale(first.sale, cast("Sequence[SaleEvent]", events))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stored = self.lots[first.lot]
        have = stored.events[-1].seq if stored.events else 0
        if self.fail_appends:
            future.set_exception(self._failure())
        elif events[0].seq != have + 1:
            future.set_exception(SeqConflict(f"lot {stored.spec.id} is at seq {have}"))
        elif request_key is not None and request_key in self.request_keys:
            future.set_exception(Conflict("this request key was used for an earlier bid"))
        else:
            stored.events.extend(cast("Sequence[LotEvent]", events))
            if request_key is not None and isinstance(events[0], KEYED_EVENT_TYPES):
                self.request_keys[request_key] = events[0]
            if snapshot is not None:
                assert snapshot.seq == events[-1].seq, "a snapshot after other events"
                self.snapshots[stored.spec.id] = snapshot
            future.set_result(None)
        return future

    def _append_sale(self, sale_id: str, events: Sequence[SaleEvent]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stored = self.sales[sale_id].events
        have = stored[-1].seq if stored else 0
        if self.fail_appends:
            future.set_exception(self._failure())
        elif events[0].seq != have + 1:
            future.set_exception(SeqConflict(f"sale {sale_id} is at seq {have}"))
        else:
            stored.extend(events)
            future.set_result(None)
        return future

    async def save_specs(self, sale: SaleSpec | None, lots: Sequence[LotSpec]) -> None:
        if sale is not None:
            self.sales[sale.id].spec = sale
        for lot in lots:
            self.lots[lot.id].spec = lot

    async def listing_entries(
        self, lot_ids: Sequence[str], version: str
    ) -> dict[str, ListingEntry]:
        kept = (self.listing.get(lot_id) for lot_id in lot_ids)
        return {e.lot_id: e for e in kept if e is not None and e.version == version}

    async def save_listing_entries(self, entries: Sequence[ListingEntry]) -> None:
        if self.fail_appends:
            raise StoreUnavailable("the store is failing on purpose")
        for entry in entries:
            self.listing[entry.lot_id] = entry

    async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
        events = self.lots[lot_id].events
        return [msgspec.json.encode(ev) for ev in events[since_seq : since_seq + limit]]

    def fault(self) -> str | None:
        return "the store is failing on purpose" if self.fail_appends else None

    async def bid_history(self, lot_id: str, before_seq: int | None, limit: int) -> list[bytes]:
        events = self.lots[lot_id].events
        bids = [
            ev
            for ev in reversed(events)
            if isinstance(ev, BidPlaced) and (before_seq is None or ev.seq < before_seq)
        ]
        return [msgspec.json.encode(ev) for ev in bids[:limit]]

    async def bid_voids(self, lot_id: str) -> list[bytes]:
        events = self.lots[lot_id].events
        return [msgspec.json.encode(ev) for ev in events if isinstance(ev, BidVoided)]

    async def bid_tallies(self, lot_ids: Sequence[str]) -> dict[str, BidTally]:
        found: dict[str, BidTally] = {}
        for lot_id in lot_ids:
            stored = self.lots.get(lot_id)
            if stored is None:
                continue
            events = stored.events
            voided = {seq for ev in events if isinstance(ev, BidVoided) for seq in ev.voided}
            bids = [ev for ev in events if isinstance(ev, BidPlaced) and ev.seq not in voided]
            if bids:
                found[lot_id] = BidTally(len(bids), len({ev.bidder for ev in bids}))
        return found

    async def keep_missing_facts(self) -> int:
        return 0  # nothing is kept here: report_facts counts the lists on each read

    async def report_facts(self, lot_ids: Sequence[str], *, bidders: bool = True) -> ReportFacts:
        """What the SQLite store's aggregates give, counted over the lists."""
        facts = ReportFacts([], [])
        minutes: dict[int, int] = {}
        for lot_id in lot_ids:
            if lot_id not in self.lots or not self.lots[lot_id].events:
                continue
            lot_facts = self._lot_facts(lot_id, minutes)
            facts.lots.append(lot_facts[0])
            if bidders:
                facts.bidders.extend(lot_facts[1])
        if bidders:
            facts.minutes = sorted(minutes.items())
        return facts

    def _lot_facts(
        self, lot_id: str, minutes: dict[int, int]
    ) -> tuple[LotTally, list[BidderTally]]:
        stored = self.lots[lot_id]
        events = stored.events
        voided = {s for ev in events if isinstance(ev, BidVoided) for s in ev.voided}
        opened = min((ev.ts for ev in events if isinstance(ev, LotOpened)), default=None)
        close = next((ev for ev in events if isinstance(ev, LotClosed)), None)
        tallies: dict[str, list[int]] = {}
        latest: int | None = None
        deadline: int | None = None
        extensions = 0
        for ev in events:
            if (
                isinstance(ev, BidPlaced | LotExtended)
                and latest is not None
                and ev.ends_at > latest
            ):
                extensions += 1
            if isinstance(ev, LotOpened | BidPlaced | LotExtended | LotResumed):
                latest = ev.ends_at if latest is None else max(latest, ev.ends_at)
            before = deadline  # the deadline as the bid found it
            if isinstance(ev, LotOpened | BidPlaced | BidVoided | LotExtended | LotResumed):
                deadline = ev.ends_at
            if not isinstance(ev, BidPlaced) or ev.seq in voided:
                continue
            minute = ev.ts // 60_000 * 60_000
            minutes[minute] = minutes.get(minute, 0) + 1
            tally = tallies.setdefault(ev.bidder, [0, 0, 0, 0, 0])
            tally[0] += 1
            tally[1] += ev.auto
            if close is not None and opened is not None:
                tally[2] += 10 * ev.ts >= 10 * close.ts - (close.ts - opened)
            tally[3] += before is not None and before - ev.ts < stored.spec.extend_ms
            tally[4] = max(tally[4], ev.amount)
        rows = [BidderTally(lot_id, bidder, *t) for bidder, t in sorted(tallies.items())]
        lot = LotTally(
            lot_id,
            close.outcome if close else None,
            close.reason if close else None,
            close.winner if close else None,
            close.amount if close else None,
            extensions,
            opened,
            close.ts if close else None,
            sum(row.bids for row in rows),
            sum(row.auto for row in rows),
            sum(row.late for row in rows),
            sum(row.extend for row in rows),
            len(rows),
        )
        return lot, rows

    async def bidder_counts(self, sale_ids: Sequence[str]) -> tuple[list[int], int]:
        groups = [[i for i, lot in self.lots.items() if lot.sale == s] for s in sale_ids]
        facts = [await self.report_facts(group) for group in groups]
        names = [{row.bidder for row in found.bidders} for found in facts]
        return [len(group) for group in names], len(set().union(*names))

    async def integrity_facts(
        self, lot_ids: Sequence[str], quick_ms: int
    ) -> tuple[list[LotRun], list[BidderPart]]:
        """What the SQLite store's window functions give, counted over the lists."""
        runs: list[LotRun] = []
        parts: list[BidderPart] = []
        for lot_id in sorted(set(lot_ids)):
            stored = self.lots.get(lot_id)
            if stored is None or not stored.events:
                continue
            events = stored.events
            voided = {s for ev in events if isinstance(ev, BidVoided) for s in ev.voided}
            standing = [ev for ev in events if isinstance(ev, BidPlaced) and ev.seq not in voided]
            sums: dict[str, list[int]] = {}
            before: BidPlaced | None = None
            for ev in standing:
                row = sums.setdefault(ev.bidder, [0, 0, 0, ev.ts, ev.ts])
                row[0] += 1
                if not ev.auto:
                    row[1] += 1
                    if before is not None and before.bidder != ev.bidder:
                        row[2] += ev.ts - before.ts <= quick_ms
                row[3], row[4] = min(row[3], ev.ts), max(row[4], ev.ts)
                before = ev
            leader = standing[-1].bidder if standing else None
            parts.extend(
                BidderPart(lot_id, who, row[0], row[1], row[2], row[3], row[4], who == leader)
                for who, row in sorted(sums.items())
            )
            close = next((ev for ev in events if isinstance(ev, LotClosed)), None)
            deadlines = [
                ev.ends_at
                for ev in events
                if isinstance(ev, BidPlaced | BidVoided | LotOpened | LotExtended | LotResumed)
            ]
            runs.append(
                LotRun(
                    lot_id,
                    min((ev.ts for ev in events if isinstance(ev, LotOpened)), default=None),
                    close.ts if close else None,
                    deadlines[-1] if deadlines else None,
                    close.outcome if close else None,
                    close.reason if close else None,
                    close.winner if close else None,
                )
            )
        return runs, parts

    async def lot_terms(self, lot_ids: Sequence[str]) -> list[LotTerms]:
        specs = [self.lots[lot_id].spec for lot_id in lot_ids if lot_id in self.lots]
        return [
            LotTerms(s.id, s.currency, s.starting_price, s.reserve, s.estimate_low, s.estimate_high)
            for s in specs
        ]
