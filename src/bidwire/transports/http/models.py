"""The HTTP edge's pydantic models: they validate requests and describe the responses in
``/openapi.json``. Pydantic lives only here, at the edge; the wire's shapes are msgspec's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bidwire.domain.lot import MAX_DESCRIPTION, MAX_TITLE, plain_text
from bidwire.domain.money import MAX_AMOUNT

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class ErrorBody(BaseModel):
    code: str = Field(description="The wire protocol's error code, e.g. too_low or unknown_lot.")
    message: str
    min_amount: int | None = Field(
        default=None, description="For too_low and already_leading: the least acceptable bid."
    )


class BidRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_AMOUNT,
        description="Minor units (cents): 12500 is 125.00. Optional with max_amount: then the"
        " bid stands at the least that leads.",
    )
    bidder: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description=(
            "A guest name, as in the wire's hello. A logged-in user bids as themselves: leave"
            " it out, or give their own username; any other name is refused (forbidden)."
        ),
    )
    max_amount: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_AMOUNT,
        description="A maximum: the house bids for you, each time the least that keeps you"
        " leading, never above it. Only you (and admins) ever see it.",
    )
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Idempotency key: repeating it returns the first answer, no second bid;"
        " the same key with another lot or amount is refused (bad_request).",
    )
    guest_token: str | None = Field(
        default=None,
        max_length=64,
        description="A guest session's token (POST /api/guest) for API clients without cookies.",
    )


class BidAccepted(BaseModel):
    type: Literal["bid_accepted"] = "bid_accepted"
    lot: str
    amount: int = Field(description="Where your own bid stands.")
    seq: int
    bidder: str
    ts: int
    max_amount: int | None = Field(default=None, description="Your maximum (yours alone).")
    leading: bool = Field(
        default=True, description="False when a rival maximum answered your bid at once."
    )
    guest_token: str | None = Field(
        default=None,
        description="When this bid made a guest session (it named a bidder and sent none):"
        " send it with the next bids (the browser keeps it in the bidwire_guest cookie).",
    )


class BuyNowRequest(BaseModel):
    """Who buys, as for a bid: the login, the guest session, or a guest name."""

    model_config = ConfigDict(extra="ignore")

    bidder: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="A guest name, as for a bid; a logged-in user buys as themselves.",
    )
    guest_token: str | None = Field(
        default=None,
        max_length=64,
        description="A guest session's token (POST /api/guest) for API clients without cookies.",
    )


class Bought(BaseModel):
    type: Literal["bought"] = "bought"
    lot: str
    amount: int = Field(description="The buy-now price paid (minor units).")
    seq: int = Field(description="The seq of the lot_closed event (reason buy_now).")
    bidder: str
    ts: int
    guest_token: str | None = Field(
        default=None,
        description="When this buy made a guest session (it named a bidder and sent none).",
    )


class GuestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, description="As the wire's hello: 1 to 32 characters.")


class GuestSession(BaseModel):
    user: str = Field(description="The name granted: the one asked for, or name-N if taken.")
    role: Literal["guest"] = "guest"
    guest_token: str = Field(
        description="Send as guest_token in bids (browsers use the HttpOnly cookie instead)."
    )


class Health(BaseModel):
    """Alive: the process answers. Says nothing of the store or the bus (that is /readyz)."""

    status: Literal["ok"]
    lots: int
    node: str = Field(description="This node's name (--node-name).")
    ts: int


class Ready(BaseModel):
    status: Literal["ready"]
    node: str
    ts: int


class NotReady(BaseModel):
    """503: send this node no clients now; ``reasons`` says why, each in words."""

    code: Literal["unavailable"]
    message: str
    reasons: list[str] = Field(
        description="Each thing not ready: the server shutting down, the store (it cannot"
        " commit), the bus (it cannot carry events between nodes), the leases (not held)."
    )
    node: str
    ts: int


class Me(BaseModel):
    user: str
    role: Literal["bidder", "admin"]


class ServerInfo(BaseModel):
    guests: bool = Field(description="Whether guests (a name, no account) may bid here.")
    accounts: bool = Field(description="Whether the server offers registration and login.")
    me: Me | None = Field(
        description="Who the request's login is; null when anonymous or the login was refused"
        " (GET /api/me says why)."
    )
    confirm_above: int | None = Field(
        default=None,
        description="The house limit in minor units: clients ask the bidder to confirm any bid"
        " (amount or maximum) above it. Null: no house limit (--confirm-above).",
    )
    node: str = Field(default="", description="The name of the node that answered.")
    ts: int


class Credentials(BaseModel):
    """Validated by the accounts service, which says which rule failed (the body limit
    bounds what we read)."""

    model_config = ConfigDict(extra="forbid")

    username: str
    password: str = Field(json_schema_extra={"format": "password"})


class LoggedIn(Me):
    token: str = Field(
        description="For API clients (Authorization: Bearer). The web client uses the"
        " HttpOnly cookie set with it and never sees this."
    )
    expires_at: int


class LoggedOut(BaseModel):
    status: Literal["logged_out"] = "logged_out"


# -- admin models ----------------------------------------------------------------------------


def _plain_text(value: str, name: str, *, multiline: bool = False) -> str:
    """The domain's text rule (``plain_text``), length aside: pydantic checks that first."""
    return plain_text(value, name, multiline=multiline, most=len(value))


Money = int | float | str
"""In currency units as a person writes them (100 or "99.50"), as in catalog files."""


class LotIn(BaseModel):
    """A lot as a catalog row: prices in currency units (100 is 100.00), times in seconds."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=ID_PATTERN, description="Made from the title.")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    starting_price: Money
    reserve: Money | None = None
    increment: Money | list[tuple[Money, Money]] | None = Field(
        default=None,
        description="A fixed step, or [[from, step], ...] tiers; the house table if absent.",
    )
    opening_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    extend_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    hard_end_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    buy_now: Money | None = Field(
        default=None,
        description="A price that closes the lot sold at once, offered until the first bid"
        " (at least the starting price).",
    )
    estimate_low: Money | None = Field(
        default=None, description="The estimate shown to bidders (low end); optional."
    )
    estimate_high: Money | None = Field(
        default=None, description="The estimate's high end (at least the low); optional."
    )

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is required")
        return _plain_text(value, "title")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return _plain_text(value, "description", multiline=True)


class LotEdit(BaseModel):
    """An edit of a lot not yet open: the fields sent replace the lot's, the others stay
    (send null to clear reserve, hard_end_seconds or buy_now). Every price in currency units
    as in a catalog row (500 or "499.50"), ``buy_now`` too: one unit for one body."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=ID_PATTERN, description="Cannot change.")
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    starting_price: Money | None = None
    reserve: Money | None = None
    increment: Money | list[tuple[Money, Money]] | None = None
    opening_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    extend_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    hard_end_seconds: float | None = Field(default=None, gt=0, le=86_400 * 365)
    buy_now: Money | None = Field(
        default=None,
        description="In currency units, at least the starting price; null: not offered.",
    )
    estimate_low: Money | None = Field(default=None, description="null: no low estimate.")
    estimate_high: Money | None = Field(default=None, description="null: no high estimate.")

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("title is required")
        return None if value is None else _plain_text(value, "title")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return None if value is None else _plain_text(value, "description", multiline=True)


class VoidRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(strict=True, ge=1, le=2**62, description="The seq of the bid to void.")


class LotsIn(BaseModel):
    """Lots to add at the end of a sale, as catalog rows."""

    model_config = ConfigDict(extra="forbid")

    lots: list[LotIn] = Field(min_length=1, max_length=10_000)


class LotSpecOut(BaseModel):
    """A lot as its catalog entry has it, for editing: money in minor units as everywhere in
    the API (an edit sends currency units, as a catalog row)."""

    lot: str
    sale: str
    state: Literal["scheduled", "open", "paused", "closed"]
    editable: bool = Field(description="Whether it may still be edited: not yet open.")
    title: str
    description: str
    currency: str
    starting_price: int
    reserve: int | None
    increment: int | list[tuple[int, int]] | None = Field(
        description="A fixed step, or [[from, step], ...] tiers; null: the house table."
    )
    buy_now: int | None
    opening_seconds: float
    extend_seconds: float
    hard_end_seconds: float | None


class SaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=ID_PATTERN, description="Made from the title.")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    mode: Literal["live", "timed"] = "live"
    gap_seconds: float | None = Field(default=None, ge=0, le=86_400)
    buyers_premium: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="The buyer's premium, a fraction of the hammer (0.2 is 20%); default 0.",
    )
    lots: list[LotIn] = Field(min_length=1, max_length=10_000)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title is required")
        return _plain_text(value, "title")


class Problem(BaseModel):
    line: int = Field(description="The file's line (CSV, TOML), or the lot's position (JSON).")
    message: str


class CatalogProblems(ErrorBody):
    problems: list[Problem]


class SaleCreated(BaseModel):
    sale: str
    title: str
    lots: list[str]


class SalesCreated(BaseModel):
    sales: list[SaleCreated]
    ts: int


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: int | None = Field(
        default=None,
        ge=0,
        le=2**53,
        description="When to start (ms since the epoch); now if absent.",
    )


class Done(BaseModel):
    status: Literal["ok"] = "ok"
    ts: int


class UserOut(BaseModel):
    username: str
    role: Literal["bidder", "admin"]
    blocked: bool
    created_at: int


class UsersPage(BaseModel):
    users: list[UserOut]
    ts: int


class AuditEntry(BaseModel):
    ts: int
    actor: str
    action: str
    detail: str


class AuditPage(BaseModel):
    entries: list[AuditEntry] = Field(description="Newest first.")
    ts: int
