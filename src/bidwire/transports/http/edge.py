"""What every endpoint shares: the session context as a dependency, the error codes and their
statuses, the ``{code, message}`` answers and their handlers, and the body limit."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bidwire.errors import BidwireError, ClientError
from bidwire.transports.http.models import CatalogProblems, ErrorBody, Problem
from bidwire.transports.session import SessionContext

log = logging.getLogger("bidwire.http")

MAX_BODY_BYTES = 1 << 20
"""The largest request body we read (a catalog upload); more is refused with 413 unread."""

STATUS_OF: Mapping[str, int] = {
    "bad_json": 400,
    "not_authenticated": 401,
    "forbidden": 403,
    "unknown_lot": 404,
    "unknown_sale": 404,
    "unknown_user": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "too_low": 409,
    "already_leading": 409,
    "lot_not_open": 409,
    "not_offered": 409,
    "not_closed": 409,
    "conflict": 409,
    "too_large": 413,
    "bad_amount": 422,
    "bad_request": 422,
    "bad_catalog": 422,
    "timeout": 408,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
}


def context(request: Request) -> SessionContext:
    """The session context the app was made for: the endpoints' one way to the house."""
    ctx: SessionContext = request.app.state.ctx
    return ctx


Context = Annotated[SessionContext, Depends(context)]


def error(code: str, message: str, min_amount: int | None = None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, min_amount=min_amount)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=STATUS_OF.get(code, 400))


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes an operation may answer."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(STATUS_OF[code], []).append(code)
    return {
        status: {"model": ErrorBody, "description": ", ".join(names)}
        for status, names in by_status.items()
    }


WIRE_SHAPES: set[type[msgspec.Struct]] = set()
"""The msgspec Structs answered as they are; their schemas go into /openapi.json."""


def wire_schema(shape: type[msgspec.Struct], description: str) -> dict[int | str, Any]:
    """OpenAPI ``responses`` for a 200 whose body is ``shape`` encoded as on the wire: the
    Struct is the one schema of that shape (no pydantic copy to drift from it)."""
    WIRE_SHAPES.add(shape)
    ref = {"$ref": f"#/components/schemas/{shape.__name__}"}
    return {200: {"description": description, "content": {"application/json": {"schema": ref}}}}


def wire_json(value: msgspec.Struct) -> Response:
    return Response(msgspec.json.encode(value), media_type="application/json")


GZIP_FROM_BYTES = 64 * 1024
"""A listing at least this large goes gzipped to a client that accepts it: the sales of a big
house (10,000 lots) are 4.3 MB of JSON, about a tenth of that packed, on a phone's link."""
GZIP_LEVEL = 5  # most of level 9's gain for a third of its time


def accepts_gzip(request: Request) -> bool:
    offered = request.headers.get("accept-encoding", "")
    for part in offered.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*") and params.replace(" ", "") != "q=0":
            return True
    return False


async def wire_json_packed(value: msgspec.Struct, request: Request) -> Response:
    """``wire_json``, gzipped (in a thread: the loop keeps serving bids) when it is large and
    the client takes gzip."""
    body = msgspec.json.encode(value)
    if len(body) < GZIP_FROM_BYTES or not accepts_gzip(request):
        return Response(body, media_type="application/json", headers={"vary": "accept-encoding"})
    packed = await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL, mtime=0)
    headers = {"content-encoding": "gzip", "vary": "accept-encoding"}
    return Response(packed, media_type="application/json", headers=headers)


def add_wire_schemas(app: FastAPI) -> None:
    """Make /openapi.json describe the wire shapes from their Structs."""
    made = app.openapi

    def openapi() -> dict[str, Any]:
        schema = made()
        shapes = sorted(WIRE_SHAPES, key=lambda shape: shape.__name__)
        _, components = msgspec.json.schema_components(
            shapes, ref_template="#/components/schemas/{name}"
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class ApiError(Exception):
    """A refusal at the edge, answered as ``{code, message}`` with the code's status."""

    def __init__(self, code: str, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems


def _refusal(code: str, message: str, problems: list[Problem] | None = None) -> JSONResponse:
    if problems is None:
        return error(code, message)
    body = CatalogProblems(code=code, message=message, problems=problems)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=STATUS_OF.get(code, 400))


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413) without buffering them: uvicorn reads
    whatever a client sends, and Starlette keeps a whole body in memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(send)
            return
        seen = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # A body with no length (chunked) is over: answer here, since FastAPI
                    # turns any fault while it reads a body into its own 400, and tell the
                    # app the client left, so it stops reading.
                    refused = True
                    if not started:
                        await self._too_large(send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; what the app says after it goes nowhere
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except ClientDisconnect:
            if not refused:
                raise

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {"code": "too_large", "message": f"the request body is over {self.limit} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def refused(request: Request, exc: ApiError) -> JSONResponse:
    return _refusal(exc.code, exc.message, exc.problems)


async def bidwire_error(request: Request, exc: BidwireError) -> JSONResponse:
    # One handler for the whole tree: a store that cannot commit is 503 unavailable in
    # JSON, like any refusal, never Starlette's plain-text 500.
    if not isinstance(exc, ClientError):
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return error(exc.code, str(exc))


async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error("bad_json", "the request body is not valid JSON")
    shown = "; ".join(
        f"{'.'.join(str(part) for part in p.get('loc', ()))}: {p.get('msg', 'invalid')}"
        for p in problems[:5]
    )
    if any(str(part).endswith("amount") for p in problems for part in p.get("loc", ())):
        return error(
            "bad_amount",
            f"amount must be a whole number of minor units (cents) between 1 and 10^15 ({shown})",
        )
    return error("bad_request", shown or "invalid request")


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    response = error(code, str(exc.detail))
    response.status_code = exc.status_code
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def add_error_handlers(app: FastAPI) -> None:
    """Every error as JSON ``{code, message}``: ours, the tree's, FastAPI's and Starlette's."""
    app.exception_handler(ApiError)(refused)
    app.exception_handler(BidwireError)(bidwire_error)
    app.exception_handler(RequestValidationError)(invalid)
    app.exception_handler(StarletteHTTPException)(http_error)
