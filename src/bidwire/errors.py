"""Every error bidwire raises, each with its wire ``code``.

    BidwireError
    ├── ClientError                 the peer sent something wrong; the connection stays open
    │   ├── BadJson          bad_json
    │   ├── UnknownType      unknown_type
    │   ├── BadRequest       bad_request
    │   │   └── Conflict     bad_request    the store holds that already (a taken name, a used key)
    │   ├── BadAmount        bad_amount
    │   ├── UnknownLot       unknown_lot
    │   ├── UnknownSale      unknown_sale
    │   ├── NotAuthenticated not_authenticated
    │   ├── Forbidden        forbidden
    │   ├── RateLimited      rate_limited
    │   ├── NotClosed        not_closed     a replay of a lot that has not closed yet
    │   ├── TooLate          lot_not_open   the database's clock says the lot's deadline passed
    │   ├── TooLarge         too_large      (this one closes the connection)
    │   ├── RequestTimeout   timeout        HTTP headers too slow (closes the connection)
    │   └── NotReading       not_reading    (so does this: replies piled up unread)
    └── ServerError                 our fault or our dependencies'
        ├── StoreUnavailable unavailable    the store cannot commit now
        │   └── StoreInUse   unavailable    another server holds the store (refused at start)
        ├── BusUnavailable   unavailable    the bus (Redis) did not answer at start
        ├── SeqConflict      unavailable    someone else appended first; reload and retry
        ├── LimitsUnavailable unavailable   the shared limits (Redis) do not answer: no new
        │                                   guest name can be held on every node
        ├── LeaseLost        lease_lost     another node holds the sale now (a newer epoch)
        ├── NotOwner         unavailable    a change asked of a node that does not run the sale
        └── TooEarly         too_early      the database's clock says the deadline has not come

An ordinary refusal (a bid too low, a lot closed) is a result, not an exception:
see :class:`bidwire.domain.lot.Refusal`.
"""

from __future__ import annotations


class BidwireError(Exception):
    code = "internal"


class ClientError(BidwireError):
    code = "bad_request"


class BadJson(ClientError):
    code = "bad_json"


class UnknownType(ClientError):
    code = "unknown_type"


class BadRequest(ClientError):
    code = "bad_request"


class BadAmount(ClientError):
    code = "bad_amount"


class UnknownLot(ClientError):
    code = "unknown_lot"


class UnknownSale(ClientError):
    code = "unknown_sale"


class NotAuthenticated(ClientError):
    code = "not_authenticated"


class Forbidden(ClientError):
    code = "forbidden"


class RateLimited(ClientError):
    code = "rate_limited"


class Conflict(BadRequest):
    """A write the store refused because it would repeat what it holds (a UNIQUE key)."""

    code = "bad_request"


class NotClosed(ClientError):
    code = "not_closed"


class TooLate(ClientError):
    """A bid (or a buy) the store refused because the database's clock, read in the append's
    own statement, is at or past the lot's stored deadline: a node's clock ran slow, or the
    bid crossed the hammer. The code is the domain's for a bid too late."""

    code = "lot_not_open"


class TooLarge(ClientError):
    code = "too_large"


class RequestTimeout(ClientError):
    code = "timeout"


class NotReading(ClientError):
    code = "not_reading"


class ServerError(BidwireError):
    code = "unavailable"


class StoreUnavailable(ServerError):
    code = "unavailable"


class StoreInUse(StoreUnavailable):
    code = "unavailable"


class BusUnavailable(ServerError):
    code = "unavailable"


class SeqConflict(ServerError):
    code = "unavailable"


class LimitsUnavailable(ServerError):
    code = "unavailable"


class LeaseLost(ServerError):
    """An append refused because the sale's lease row no longer has this node's holder and
    epoch: another node took the sale (this one was paused or cut off past its lease)."""

    code = "lease_lost"


class NotOwner(ServerError):
    """A change to a sale (an admin's: pause, void, withdraw...) that no node could make now:
    the node asked does not decide the sale and could not hand it to the one that does (no node
    holds it, the change came forwarded from another node, or the owner did not answer)."""

    code = "unavailable"


class TooEarly(ServerError):
    """A close at the deadline the store refused because the database's clock says the
    deadline has not come: this node's clock runs fast. Nothing was stored."""

    code = "too_early"


_BY_CODE: dict[str, type[BidwireError]] = {
    cls.code: cls
    for cls in (
        BadJson,
        UnknownType,
        BadRequest,
        BadAmount,
        UnknownLot,
        UnknownSale,
        NotAuthenticated,
        Forbidden,
        RateLimited,
        NotClosed,
        TooLate,
        StoreUnavailable,
        LeaseLost,
        TooEarly,
    )
}


def error_from_code(code: str, message: str) -> BidwireError:
    """The error another node answered with, by its wire code and words: the class this code
    names here (``unavailable`` is StoreUnavailable), so a transport shows it as if it were
    this node's own; a code unknown here is a ServerError saying it."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return ServerError(f"{message} ({code[:32]})")
    return cls(message)


class CatalogError(ValueError):
    """A catalog file is wrong; ``problems`` lists each bad row as ``(line, message)``."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(f"line {line}: {msg}" for line, msg in problems[:20])
        super().__init__(f"{source}: {lines}")
