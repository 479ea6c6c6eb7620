"""The FastAPI application: the routers of each area, the error handlers, the body limit, and
the web client's pages and files."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from bidwire.catalog import Defaults
from bidwire.node import registry_for
from bidwire.transports.http import (
    accounts,
    admin,
    integrity,
    me,
    ops,
    public,
    replay,
    results,
    vendor,
)
from bidwire.transports.http import history as bid_history
from bidwire.transports.http.docs import add_docs
from bidwire.transports.http.edge import BodyLimit, add_error_handlers, add_wire_schemas
from bidwire.transports.session import SessionContext

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

pages = APIRouter(include_in_schema=False)


@pages.get("/")
async def index() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers={"cache-control": "no-cache"})


@pages.get("/admin")
async def admin_page() -> FileResponse:
    # The page itself is public (it holds no data); everything it shows comes from
    # /api/admin, which checks the role on every request.
    return FileResponse(WEB_DIR / "admin.html", headers={"cache-control": "no-cache"})


@pages.get("/admin/analytics")
async def analytics_page() -> FileResponse:
    # Public like /admin: the figures come from /api/admin, which checks the role.
    return FileResponse(WEB_DIR / "analytics.html", headers={"cache-control": "no-cache"})


class _WebFiles(StaticFiles):
    """The client's files, always revalidated: a server upgrade never leaves a stale app.js."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "no-cache"
        return response


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes themselves, not ``include_router``: FastAPI 0.165 nests an included
    router as one entry, and ``app.routes`` must list every route (a test walks that table and
    fails on any admin route that does not refuse anonymous users and bidders)."""
    app.router.routes.extend(router.routes)


def create_app(ctx: SessionContext, catalog_defaults: Defaults | None = None) -> FastAPI:
    app = FastAPI(
        # /docs and /redoc with their files served here, not from a CDN (http/docs.py)
        docs_url=None,
        redoc_url=None,
        title="bidwire",
        version="1",
        description=(
            "The HTTP JSON API of a bidwire auction house. Money is an integer count of minor"
            " units (cents); time is integer milliseconds since the Unix epoch, from the"
            " server's clock. Live updates are on the WebSocket at /ws (see docs/protocol.md)."
            " Log in with POST /api/login: browsers keep the token in an HttpOnly cookie, API"
            " clients send it as Authorization: Bearer <token>. Everything under /api/admin"
            " needs the admin role. Every error is JSON {code, message} (503 unavailable when"
            " the store cannot commit); request bodies are limited to 1 MiB (413 too_large),"
            " and a request whose headers stall is answered 408 timeout and closed."
        ),
    )
    # What the endpoints read through their dependencies (edge.context, admin.catalog_defaults).
    app.state.ctx = ctx
    app.state.catalog_defaults = catalog_defaults or Defaults()
    app.state.metrics = registry_for(ctx)  # what /metrics writes (bidwire/metrics.py)
    app.add_middleware(BodyLimit)
    add_error_handlers(app)
    add_wire_schemas(app)
    routers = (ops.router, public.router, results.router, accounts.router, admin.router, me.router)
    histories = (bid_history.router, bid_history.admin_router)  # bid histories (issue 13)
    for router in (
        *routers,
        replay.router,
        results.admin_router,
        integrity.admin_router,
        *histories,
        pages,
        vendor.router,
    ):
        _add_routes(app, router)
    app.mount("/static", _WebFiles(directory=WEB_DIR), name="static")
    add_docs(app)
    return app
