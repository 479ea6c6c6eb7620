"""Sales: ordered lots, run one after another (live) or side by side (timed).

A sale's progress is derived from its lots, so the log of lot events is enough to resume it:
in a live sale the next lot opens ``gap_ms`` after the previous one closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bidwire.domain.lot import Lot, SaleMode, plain_text


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


@dataclass(frozen=True, slots=True)
class SalePlan:
    """What the sale needs now: lots to open, whether it has ended, and when to look again."""

    open_now: tuple[str, ...] = ()
    ended: bool = False
    wake_at: int | None = None


def plan(sale: SaleSpec, started_at: int, lots: Mapping[str, Lot], now_ms: int) -> SalePlan:
    """Decide the sale's next step from its lots' states (pure)."""
    states = [lots[lot_id] for lot_id in sale.lot_ids]
    if all(lot.status == "closed" for lot in states):
        return SalePlan(ended=True)
    if sale.mode == "timed":
        due = tuple(lot.id for lot in states if lot.status == "scheduled")
        return SalePlan(open_now=due if now_ms >= started_at else (), wake_at=started_at)
    previous_closed_at = started_at
    for lot in states:
        if lot.status == "closed":
            assert lot.closed_at is not None
            previous_closed_at = lot.closed_at
            continue
        if lot.status in ("open", "paused"):
            return SalePlan()
        opens_at = previous_closed_at + (sale.gap_ms if lot is not states[0] else 0)
        opens_at = max(opens_at, started_at)
        if now_ms >= opens_at:
            return SalePlan(open_now=(lot.id,))
        return SalePlan(wake_at=opens_at)
    return SalePlan(ended=True)  # unreachable: some lot is not closed
