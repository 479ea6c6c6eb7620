"""Sales: ordered lots, run one after another (live) or side by side (timed).

Principles:
- A sale's own state (started, paused, ended) changes only by its events (``SaleStarted``,
  ``SalePaused``, ``SaleResumed``, ``SaleEnded``) through ``Sale.apply``; the decisions
  (``decide_*``) say which event the present calls for, or refuse with a reason.
- A sale's events are a stream of their own, ordered by ``seq`` as a lot's are: a decision
  proposes ``seq + 1`` and ``apply`` takes only that, so replaying the log rebuilds the sale.
- Which lot opens when is derived from the lots (``plan``): in a live sale the next lot opens
  ``gap_ms`` after the previous one closed.
- ``Sale.status`` is the one place a sale's status is derived (the API and the admin page
  show it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from bidwire.domain.events import SaleEnded, SaleEvent, SalePaused, SaleResumed, SaleStarted
from bidwire.domain.lot import Lot, Refusal, SaleMode, plain_text

SaleStatus = Literal["held", "scheduled", "running", "paused", "ended"]


@dataclass(frozen=True, slots=True)
class SaleSpec:
    id: str
    title: str
    lot_ids: tuple[str, ...]
    mode: SaleMode = "live"
    gap_ms: int = 2_000
    starts_at: int | None = None
    """When the sale starts; ``None`` means as soon as the server runs it (unless held)."""
    held: bool = False
    """A sale built by an admin waits for an explicit start or schedule."""
    anonymous: bool = False
    """Public events show a pseudonym per bidder instead of the name; admins see who."""
    pseudonym_salt: str = field(default="", repr=False)
    """The secret behind the pseudonyms, set when an anonymous sale is created."""
    buyers_premium: float = 0.0
    """The buyer's premium, a fraction of the hammer (0.2: 20%) each buyer pays on top of it;
    0 to 1."""

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 64:
            raise ValueError("sale id must be 1 to 64 characters")
        if not self.title.strip():
            raise ValueError("sale title must not be empty")
        plain_text(self.title, "sale title")
        if not self.lot_ids:
            raise ValueError(f"sale {self.id} has no lots")
        if len(set(self.lot_ids)) != len(self.lot_ids):
            raise ValueError(f"sale {self.id} lists a lot twice")
        if self.mode not in ("live", "timed"):
            raise ValueError("sale mode must be 'live' or 'timed'")
        if self.gap_ms < 0:
            raise ValueError("gap between lots cannot be negative")
        premium = self.buyers_premium
        if isinstance(premium, bool) or not isinstance(premium, int | float):
            raise ValueError("buyer's premium must be a number from 0 to 1 (0.2 is 20%)")
        if not 0 <= premium <= 1:  # also refuses NaN
            raise ValueError("buyer's premium must be from 0 to 1 (0.2 is 20%)")


@dataclass(slots=True)
class Sale:
    """A sale's state, changed only by ``apply``."""

    spec: SaleSpec
    seq: int = 0
    started_at: int | None = None
    ended_at: int | None = None
    paused_at: int | None = None
    end_reason: str | None = None
    """Why it ended, as its ``SaleEnded`` says: ``done`` or ``cancelled``."""

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def status(self) -> SaleStatus:
        if self.ended_at is not None:
            return "ended"
        if self.paused_at is not None:
            return "paused"
        if self.started_at is not None:
            return "running"
        return "held" if self.spec.held and self.spec.starts_at is None else "scheduled"

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")

    def starts_at(self, now_ms: int) -> int | None:
        """When a sale not yet started starts (``now_ms`` if due); None if held or started."""
        if self.started_at is not None or self.ended_at is not None:
            return None
        if self.spec.held and self.spec.starts_at is None:
            return None  # an admin's sale waits for its start or schedule
        return self.spec.starts_at if self.spec.starts_at is not None else now_ms

    def decide_start(self, now_ms: int) -> SaleStarted | None:
        """The start, if it is due now."""
        at = self.starts_at(now_ms)
        if at is None or at > now_ms:
            return None
        spec = self.spec
        return SaleStarted(spec.id, self.seq + 1, spec.title, spec.mode, list(spec.lot_ids), now_ms)

    def decide_pause(self, now_ms: int, by: str) -> SalePaused | Refusal:
        if self.status != "running":
            return Refusal("bad_request", f"sale {self.id} is not running")
        return SalePaused(self.id, self.seq + 1, by, now_ms)

    def decide_resume(self, now_ms: int, by: str) -> SaleResumed | Refusal:
        if self.status != "paused":
            return Refusal("bad_request", f"sale {self.id} is not paused")
        return SaleResumed(self.id, self.seq + 1, by, now_ms)

    def decide_end(self, now_ms: int, reason: str = "done") -> SaleEnded | Refusal:
        """The end: ``done`` when its lots are all closed, ``cancelled`` by an admin."""
        if self.ended_at is not None:
            return Refusal("bad_request", f"sale {self.id} has already ended")
        return SaleEnded(self.id, self.seq + 1, now_ms, reason)

    def decide_add_lots(self, lot_ids: Sequence[str]) -> SaleSpec | Refusal:
        """The sale's spec with more lots at the end of its order, or why not. A sale that
        has ended takes none; a running live sale opens them after its others (``plan``), a
        running timed sale at once, a sale not yet started with the rest."""
        if self.ended_at is not None:
            return Refusal("bad_request", f"sale {self.id} has ended; it takes no more lots")
        if not lot_ids:
            return Refusal("bad_request", "give at least one lot to add")
        try:
            return replace(self.spec, lot_ids=(*self.spec.lot_ids, *lot_ids))
        except ValueError as exc:  # a lot listed twice
            return Refusal("bad_request", str(exc))

    def apply(self, event: SaleEvent) -> None:
        if event.sale != self.id or event.seq != self.seq + 1:
            raise ValueError(
                f"event {event.sale}#{event.seq} does not follow sale {self.id}#{self.seq}"
            )
        self.seq = event.seq
        if isinstance(event, SaleStarted):
            self.started_at = event.ts
        elif isinstance(event, SalePaused):
            self.paused_at = event.ts
        elif isinstance(event, SaleResumed):
            self.paused_at = None
        elif isinstance(event, SaleEnded):
            self.ended_at = event.ts
            self.end_reason = event.reason


@dataclass(frozen=True, slots=True)
class SalePlan:
    """What the sale needs now: lots to open, whether it has ended, and when to look again."""

    open_now: tuple[str, ...] = ()
    ended: bool = False
    wake_at: int | None = None


def plan(
    sale: SaleSpec,
    started_at: int,
    lots: Mapping[str, Lot],
    now_ms: int,
    closed_at: Mapping[str, int] | None = None,
) -> SalePlan:
    """Decide the sale's next step from its lots' states (pure). A lot missing from ``lots``
    has closed and is kept out of memory: ``closed_at`` says when (a live sale's next lot opens
    ``gap_ms`` after it; without it, the next lot counts from the one before)."""
    states = [lots.get(lot_id) for lot_id in sale.lot_ids]
    if all(lot is None or lot.status == "closed" for lot in states):
        return SalePlan(ended=True)
    if sale.mode == "timed":
        due = tuple(lot.id for lot in states if lot is not None and lot.status == "scheduled")
        return SalePlan(open_now=due if now_ms >= started_at else (), wake_at=started_at)
    closed_at = closed_at or {}
    previous_closed_at = started_at
    for index, (lot_id, lot) in enumerate(zip(sale.lot_ids, states, strict=True)):
        if lot is None:
            previous_closed_at = closed_at.get(lot_id, previous_closed_at)
            continue
        if lot.status == "closed":
            assert lot.closed_at is not None
            previous_closed_at = lot.closed_at
            continue
        if lot.status in ("open", "paused"):
            return SalePlan()
        opens_at = previous_closed_at + (sale.gap_ms if index else 0)
        opens_at = max(opens_at, started_at)
        if now_ms >= opens_at:
            return SalePlan(open_now=(lot.id,))
        return SalePlan(wake_at=opens_at)
    return SalePlan(ended=True)  # unreachable: some lot is not closed
