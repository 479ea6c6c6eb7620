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
    │   ├── TooLarge         too_large      (this one closes the connection)
    │   ├── RequestTimeout   timeout        HTTP headers too slow (closes the connection)
    │   └── NotReading       not_reading    (so does this: replies piled up unread)
    └── ServerError                 our fault or our dependencies'
        ├── StoreUnavailable unavailable    the store cannot commit now
        │   └── StoreInUse   unavailable    another server holds the store (refused at start)
        ├── BusUnavailable   unavailable    the bus (Redis) did not answer at start
        └── SeqConflict      unavailable    someone else appended first; reload and retry

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


class CatalogError(ValueError):
    """A catalog file is wrong; ``problems`` lists each bad row as ``(line, message)``."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(f"line {line}: {msg}" for line, msg in problems[:20])
        super().__init__(f"{source}: {lines}")
