"""Operating a node: ``/healthz`` (alive), ``/readyz`` (fit to be sent clients) and
``/metrics`` (Prometheus' text format).

Why two probes: a liveness probe that failed on the store or the bus would have every node
restarted at once when PostgreSQL or Redis goes away, and a restart mends neither; /readyz
takes the node out of the load balancer instead, and puts it back once it can serve.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bidwire.node import not_ready
from bidwire.transports.http.edge import Context, error, error_responses
from bidwire.transports.http.models import Health, NotReady, Ready

router = APIRouter()


@router.get("/healthz", response_model=Health, responses=error_responses("unavailable"))
async def healthz(ctx: Context) -> Health | JSONResponse:
    """Alive: 200 while the process serves, whatever its store and bus say (503 only once it
    is shutting down). Whether to send it clients is /readyz."""
    if not ctx.house.accepting:
        return error("unavailable", "the server is shutting down")
    return Health(
        status="ok", lots=ctx.house.lot_count(), node=ctx.node.name, ts=ctx.clock.now_ms()
    )


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "not ready, with the reasons in words"}},
)
async def readyz(ctx: Context) -> Ready | JSONResponse:
    """Ready: the store can commit, the bus can carry events and this node holds the leases it
    should (one node on SQLite holds every sale). Otherwise 503 ``unavailable`` with each
    reason in words; checked cheaply (no round trip), so a probe every second costs nothing."""
    reasons = not_ready(ctx)
    now = ctx.clock.now_ms()
    if not reasons:
        return Ready(status="ready", node=ctx.node.name, ts=now)
    body = NotReady(
        code="unavailable",
        message="not ready: " + "; ".join(reasons),
        reasons=reasons,
        node=ctx.node.name,
        ts=now,
    )
    return JSONResponse(body.model_dump(), status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(request: Request) -> Response:
    """This node's figures in Prometheus' text format (docs/protocol.md, "Operating")."""
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
