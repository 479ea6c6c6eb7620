"""The JSON-lines codec: sans-I/O, limits on by default.

Decoding is two steps so each fault gets its own code: parse (``bad_json``), then look at
``type`` (``bad_request`` if missing, ``unknown_type`` if unknown), then validate the fields
(``bad_amount`` for money, ``bad_request`` for the rest).
"""

from __future__ import annotations

from typing import Any

import msgspec

from bidwire.domain.money import MAX_AMOUNT
from bidwire.errors import BadAmount, BadJson, BadRequest, ClientError, UnknownType

MAX_MESSAGE_BYTES = 64 * 1024
PROTOCOL_VERSION = 1

RequestId = str | int | None


class Hello(msgspec.Struct, tag="hello", tag_field="type", frozen=True):
    name: str = ""
    """The guest name wanted; may be left out with a live ``guest_token``."""
    id: RequestId = None
    guest_token: str | None = None
    """A guest session's token (an earlier welcome's, or the HTTP one): be that guest again."""


class Register(msgspec.Struct, tag="register", tag_field="type", frozen=True):
    username: str
    password: str
    id: RequestId = None


class Login(msgspec.Struct, tag="login", tag_field="type", frozen=True):
    username: str
    password: str
    id: RequestId = None


class Auth(msgspec.Struct, tag="auth", tag_field="type", frozen=True):
    token: str
    id: RequestId = None


class Bid(msgspec.Struct, tag="bid", tag_field="type", frozen=True):
    lot: str
    amount: int | None = None
    """Optional with ``max_amount``; one of the two is required."""
    id: RequestId = None
    max_amount: int | None = None
    request_id: str | None = None


class Subscribe(msgspec.Struct, tag="subscribe", tag_field="type", frozen=True):
    lots: list[str]
    id: RequestId = None


class Unsubscribe(msgspec.Struct, tag="unsubscribe", tag_field="type", frozen=True):
    lots: list[str]
    id: RequestId = None


class Resync(msgspec.Struct, tag="resync", tag_field="type", frozen=True):
    lot: str
    since_seq: int
    id: RequestId = None


class BuyNow(msgspec.Struct, tag="buy_now", tag_field="type", frozen=True):
    lot: str
    id: RequestId = None


class Ping(msgspec.Struct, tag="ping", tag_field="type", frozen=True):
    id: RequestId = None


# my activity (engine/activity.py; the replies are its activity, watched and inbox)
class Mine(msgspec.Struct, tag="mine", tag_field="type", frozen=True):
    id: RequestId = None
    before: str | None = None
    limit: int = 50


class Watch(msgspec.Struct, tag="watch", tag_field="type", frozen=True):
    lot: str
    on: bool = True
    id: RequestId = None


class Notices(msgspec.Struct, tag="notices", tag_field="type", frozen=True):
    id: RequestId = None
    mark_read: bool = False
    limit: int = 50


# bid histories (engine/history.py; the reply is its history)
class HistoryRequest(msgspec.Struct, tag="history", tag_field="type", frozen=True):
    lot: str | None = None
    sale: str | None = None
    mine: bool = False
    bidder: str | None = None
    """Admins only: any bidder's history, by name."""
    before: str | None = None
    limit: int = 50
    id: RequestId = None


ActivityMessage = Mine | Watch | Notices | HistoryRequest


# integrity signals, admins only (engine/integrity.py; the reply is its integrity)
class IntegrityAsk(msgspec.Struct, tag="integrity", tag_field="type", frozen=True):
    sale: str
    id: RequestId = None
    follow: bool | None = None
    """True: the answer, then a fresh ``integrity`` pushed as bids change it (at most twice a
    second) while the sale runs; False: stop; left out: the answer only."""
    limit: int = 100
    """Bidders listed in the answer, flagged ones first (1..10,000; pushes list 100)."""


ClientMessage = (
    (Hello | Register | Login | Auth | Bid | BuyNow | Subscribe | Unsubscribe | Resync | Ping)
    | ActivityMessage
    | IntegrityAsk
)

MESSAGE_TYPES: dict[str, type[ClientMessage]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (Hello, Register, Login, Auth, Bid, BuyNow, Subscribe, Unsubscribe, Resync, Ping)
}
MESSAGE_TYPES.update({cls.__struct_config__.tag: cls for cls in (Mine, Watch, Notices)})  # type: ignore[misc]
MESSAGE_TYPES["integrity"] = IntegrityAsk
MESSAGE_TYPES["history"] = HistoryRequest

_generic = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _fault(error: ClientError, request_id: RequestId, lot: Any = None) -> ClientError:
    error.request_id = request_id  # type: ignore[attr-defined]
    error.lot = lot if isinstance(lot, str) else None  # type: ignore[attr-defined]
    return error


def valid_amount(value: object) -> bool:
    return type(value) is int and 0 < value <= MAX_AMOUNT


def decode(data: bytes | str) -> ClientMessage:
    """One message from one line or frame. Raises a ClientError carrying ``request_id``."""
    try:
        return _decode(data)
    except RecursionError:
        # msgspec parses (and _short re-encodes) nested arrays and objects recursively: a
        # line of 5,000 brackets fits in 64 KiB and would otherwise end the connection.
        raise _fault(BadJson("the JSON is nested too deeply to read"), None) from None


def _decode(data: bytes | str) -> ClientMessage:
    if len(data) > MAX_MESSAGE_BYTES:
        raise _fault(BadRequest("message larger than 64 KiB"), None)
    try:
        raw = _generic.decode(data)
    except msgspec.DecodeError as exc:
        raise _fault(BadJson(f"not valid JSON: {exc}"), None) from None
    if not isinstance(raw, dict):
        raise _fault(BadRequest("a message must be a JSON object"), None)
    request_id = raw.get("id")
    if not (
        request_id is None
        or (type(request_id) is int)
        or (isinstance(request_id, str) and len(request_id) <= 64)
    ):
        raise _fault(BadRequest("id must be a string of at most 64 characters or an integer"), None)
    kind = raw.get("type")
    if kind is None:
        raise _fault(BadRequest('a message needs a "type"'), request_id)
    if not isinstance(kind, str):
        raise _fault(BadRequest('"type" must be a string'), request_id)
    cls = MESSAGE_TYPES.get(kind)
    if cls is None:
        shown = kind if len(kind) <= 40 else kind[:40] + "..."
        raise _fault(UnknownType(f"unknown message type {shown!r}"), request_id)
    if cls is Bid:
        if raw.get("amount") is None and raw.get("max_amount") is None:
            raise _fault(
                BadRequest('a bid needs "amount", "max_amount", or both'),
                request_id,
                raw.get("lot"),
            )
        for field in ("amount", "max_amount"):
            given = field in raw and raw[field] is not None
            if given and not valid_amount(raw[field]):
                raise _fault(
                    BadAmount(
                        f"{field} must be a whole number of minor units (cents)"
                        f" between 1 and 10^15, not {_short(raw[field])}"
                    ),
                    request_id,
                    raw.get("lot"),
                )
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as exc:
        raise _fault(BadRequest(f"bad {kind} message: {exc}"), request_id, raw.get("lot")) from None


def _short(value: object) -> str:
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= 40 else text[:40] + "..."


def encode(message: Any) -> bytes:
    """A server message (Struct or dict) to JSON bytes, without the line end."""
    return _encoder.encode(message)


# -- server replies ----------------------------------------------------------------------------


class Welcome(msgspec.Struct, tag="welcome", tag_field="type"):
    user: str
    role: str
    token: str | None
    ts: int
    protocol: int = PROTOCOL_VERSION
    id: RequestId = None
    confirm_above: int | None = None
    """The house limit: clients confirm any bid above it (minor units; None: no limit)."""
    guest_token: str | None = None
    """A guest's session token: a later hello sends it to be this guest again (None for
    accounts)."""


class BidAccepted(msgspec.Struct, tag="bid_accepted", tag_field="type"):
    """``amount`` is where the bidder's own bid stands; ``max_amount`` (theirs alone) the
    maximum it left; ``leading`` False when a rival maximum answered it at once."""

    lot: str
    amount: int
    seq: int
    ts: int
    id: RequestId = None
    max_amount: int | None = None
    leading: bool = True
    bidder: str | None = None
    """How the public sees this bid's bidder: the name, or in an anonymous sale the pseudonym."""


class Bought(msgspec.Struct, tag="bought", tag_field="type"):
    """A buy-now that closed the lot: ``seq`` is its ``lot_closed``."""

    lot: str
    amount: int
    seq: int
    ts: int
    id: RequestId = None
    bidder: str | None = None
    """How the public sees the buyer (the pseudonym in an anonymous sale)."""


class Alias(msgspec.Struct, tag="alias", tag_field="type"):
    """Your own pseudonym in an anonymous sale (``bidder``, as the public sees you in
    ``sale``): sent to this connection alone, never part of the events everyone gets."""

    sale: str
    bidder: str
    ts: int


class BidRejected(msgspec.Struct, tag="bid_rejected", tag_field="type"):
    lot: str | None
    code: str
    message: str
    ts: int
    min_amount: int | None = None
    id: RequestId = None


class Pong(msgspec.Struct, tag="pong", tag_field="type"):
    ts: int
    id: RequestId = None


class Error(msgspec.Struct, tag="error", tag_field="type"):
    code: str
    message: str
    ts: int
    id: RequestId = None


class SessionEnded(msgspec.Struct, tag="error", tag_field="type"):
    """An ``error`` that ends the connection's session: the account was blocked
    (``reason`` "blocked") or its token logged out ("logged_out"). The connection is then
    closed (WebSocket close code 1008); clients say so and do not reconnect on their own."""

    code: str
    reason: str
    message: str
    ts: int


class Subscribed(msgspec.Struct, tag="subscribed", tag_field="type"):
    lots: list[str]
    house: bool
    ts: int
    id: RequestId = None


class ServerClosing(msgspec.Struct, tag="server_closing", tag_field="type"):
    """Sent before a clean shutdown; clients reconnect and resync."""

    message: str
    ts: int
