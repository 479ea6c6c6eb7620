"""Putting the server together: store -> house -> feed -> transports, and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterable

from bidwire import logs, metrics
from bidwire.accounts.service import Accounts
from bidwire.bus import open_bus
from bidwire.bus.redis_mailbox import open_redis_mailbox
from bidwire.catalog import Defaults, load_catalog
from bidwire.clock import Clock, OffsetClock, SystemClock
from bidwire.demo import DemoRuns
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.engine.cluster import Cluster, Leases, clock_offset, clock_reading
from bidwire.engine.gate import Gate
from bidwire.engine.house import AuctionHouse
from bidwire.engine.views import Views
from bidwire.errors import BadRequest, BidwireError, Conflict, StoreUnavailable
from bidwire.limits import limits_url_for, open_limits
from bidwire.node import Node, default_node_name
from bidwire.settings import Settings
from bidwire.store import open_store
from bidwire.store.base import Store
from bidwire.transports.broadcast import Feed
from bidwire.transports.fanout import direct_path
from bidwire.transports.http import start_http
from bidwire.transports.nodes import Forwarder
from bidwire.transports.session import SessionContext
from bidwire.transports.tcp import start_tcp

log = logging.getLogger("bidwire")

SHUTDOWN_GRACE_SECONDS = 10.0


def catalog_defaults(settings: Settings) -> Defaults:
    return Defaults(
        opening_seconds=settings.opening_seconds,
        extend_seconds=settings.extend_seconds,
        gap_seconds=settings.lot_gap_seconds,
        currency=settings.currency.upper(),
    )


async def serve(
    settings: Settings,
    *,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, int]], Awaitable[None] | None] | None = None,
    limits_url: str | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGTERM / Ctrl-C), then stop cleanly: no new bids, every
    queued commit finished, every client told."""
    shared_bus = not settings.bus.startswith("memory:")
    if clock is None:
        clock = SystemClock()
        if settings.clock_skew_ms:
            clock = OffsetClock(clock, settings.clock_skew_ms)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # not available off the main thread or on some platforms: then Ctrl-C still works
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    node_name = settings.node_name or default_node_name(settings.http_port)
    if shared_bus and not settings.node_name and settings.http_port == 0:
        node_name += f"-{secrets.token_hex(3)}"  # a lease holder's name must be its own
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(
            open_store(settings.store_url, synchronous=settings.synchronous, exclusive=True)
        )
        bus = await stack.enter_async_context(open_bus(settings.bus))
        # names, bid rates and login throttles for every node: the bus's Redis, if it has one
        limits = await stack.enter_async_context(
            open_limits(limits_url or limits_url_for(settings.bus), clock)
        )
        # several nodes: a bus between them and a store that keeps leases (postgresql://);
        # a redis:// bus beside one node's store is one node that publishes there too
        clustered = shared_bus and isinstance(store, Leases)
        leases: Leases | None = None
        if clustered:
            assert isinstance(store, Leases)
            leases = store
            # every node decides by the database's time, set before anything reads a clock
            clock = OffsetClock(clock, clock_offset([await clock_reading(clock, store)]))
        views = Views()
        feed = Feed(clock, views, direct=direct_path())
        # a bus between nodes loses messages now and then: the fan-out reloads them from the
        # store (engine/resync.py); on one node nothing can be lost between publish and it
        feed.listen(bus, store if shared_bus else None)
        house = AuctionHouse(store, bus, views, clock)
        await house.load()
        cluster: Cluster | None = None
        if leases is not None:
            assert isinstance(clock, OffsetClock)
            cluster = Cluster(house, leases, node_name, clock, synced=clock)
            cluster.on_change = lambda sale, how: metrics.lease_changed(how)
            forwarder = Forwarder(node_name, cluster, house)
            mailbox = await stack.enter_async_context(open_redis_mailbox(settings.bus, node_name))
            mailbox.handler = forwarder.received
            forwarder.mailbox = mailbox
            house.forwarder = forwarder
            bus.subscribe(house.follow)
            bus.watch_lost(house.follow_lost)
            await cluster.step()  # the sales nobody holds are this node's before it listens
        defaults = catalog_defaults(settings)
        if not house.sales and settings.catalog:
            await add_catalog(house, load_catalog(settings.catalog, defaults), cluster is not None)
        elif settings.demo:
            # a fresh store, or every earlier sale is over: the samples go on the block again;
            # then run after run, each announced before it starts (bidwire/demo.py)
            demo = DemoRuns(house, defaults, round(settings.demo_pause_seconds * 1000))
            await demo.begin(now=all(s.ended_at is not None for s in house.sales.values()))
        await house.resume()
        house.start()
        accounts = Accounts(store, clock, limits=limits)
        await ensure_first_admin(accounts, settings)
        gate = Gate(
            clock,
            accounts,
            guests_allowed=settings.guests,
            bid_limiter=limits.bid_rate(settings.bid_rate, settings.bid_burst),
            limits=limits,
        )
        await gate.load_guests()  # guests who bid keep their names across a restart
        ctx = SessionContext(
            house,
            feed,
            clock,
            gate,
            auth_timeout=settings.auth_timeout_seconds,
            max_connections_per_address=settings.max_connections_per_address,
            confirm_above=settings.confirm_above_minor,
            live_integrity=settings.live_integrity,
            integrity_threshold=settings.integrity_threshold,
            node=Node(name=node_name),
        )
        if cluster is not None:
            ctx.node.leases = cluster.fault
            cluster.start()
        tls = tls_context(settings)
        tcp = await start_tcp(
            ctx,
            settings.host,
            settings.tcp_port,
            greet_after=settings.greet_after_seconds,
            ssl_context=tls,
        )
        try:
            http = await start_http(
                ctx,
                settings.host,
                settings.http_port,
                ssl_certfile=settings.tls_cert or None,
                ssl_keyfile=settings.tls_key or None,
                catalog_defaults=defaults,
                header_timeout=settings.header_timeout_seconds,
            )
        except BaseException:
            tcp.close()
            await house.stop()
            raise
        ports = {"tcp": tcp.sockets[0].getsockname()[1], "http": http.port}
        if not settings.node_name and not clustered:  # the port asked for may have been 0
            ctx.node.name = default_node_name(ports["http"])
        logs.set_node(ctx.node.name)
        logs.announce(
            f"bidwire listening: tcp {settings.host}:{ports['tcp']}"
            f" http {settings.host}:{ports['http']}"
            f" store {logs.redact(settings.store_url)} ({house.lot_count()} lots)",
            tcp=ports["tcp"],
            http=ports["http"],
            store=logs.redact(settings.store_url),
            bus=logs.redact(settings.bus),
            lots=house.lot_count(),
        )
        if on_ready is not None:
            maybe = on_ready(ports)
            if maybe is not None:
                await maybe
        # closed lots with no kept report facts (a store from before they were kept) are
        # counted in the background, a few at a time, so no report has to count them all
        keeping = asyncio.create_task(_keep_missing_facts(store))
        try:
            await stop.wait()
        finally:
            keeping.cancel()
            logs.announce("bidwire stopping: no new bids; finishing commits")
            tcp.close()
            http.close()
            if cluster is not None:  # what it held goes to the others at once
                await cluster.stop(release=True)
            try:
                await asyncio.wait_for(house.stop(), SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                log.error("commits still pending after %ss", SHUTDOWN_GRACE_SECONDS)
            with contextlib.suppress(TimeoutError):  # the last notices go out, then no more
                await asyncio.wait_for(ctx.activity.settled(), 2)
            ctx.activity.close()
            ctx.integrity.close()
            if ctx.live_report is not None:
                ctx.live_report.close()
            feed.flush()
            for session in list(ctx.sessions):
                session.goodbye("The server is shutting down; reconnect in a moment.")
            feed.close()
            await asyncio.sleep(0.05)  # let the goodbyes reach the sockets
            await http.stop()
            with contextlib.suppress(TimeoutError):  # guests' last use, before the store closes
                await asyncio.wait_for(gate.settled(), SHUTDOWN_GRACE_SECONDS)
        logs.announce("bidwire stopped")


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


async def ensure_first_admin(accounts: Accounts, settings: Settings) -> None:
    """``BIDWIRE_ADMIN_PASSWORD`` on first start makes the first admin (if none exists)."""
    if not settings.admin_password:
        return
    users = await accounts.store.list_users()
    if any(user.role == "admin" for user in users):
        return
    try:
        user = await accounts.create_user(settings.admin_username, settings.admin_password, "admin")
    except BadRequest:
        # several nodes started together on one store: another made the first admin first
        if any(user.role == "admin" for user in await accounts.store.list_users()):
            return
        raise
    await accounts.store.audit(
        "startup", "create-user", f"{user.username} (admin)", accounts.clock.now_ms()
    )
    log.info("created the first admin, %s", user.username)


GC_THRESHOLDS = (50_000, 20, 10)
"""Young collections after 50,000 allocations, not 700. Why: a bid waiting for its group commit
keeps its objects alive through several young collections at the default, so they were promoted
and forced full collections (50 ms each, 17 in 5 s at 11,000 bids/s: a quarter of the CPU).
Now they die young. Goes with ``gc.freeze()`` once the server is up (bench/README.md)."""


def run(settings: Settings) -> None:
    # The loop thread holds the GIL through a flush of thousands of writes; the SQLite writer
    # thread needs it back after every statement. 1 ms instead of 5 bounds that wait (bench/).
    sys.setswitchinterval(0.001)
    gc.set_threshold(*GC_THRESHOLDS)
    logs.setup(
        "json" if settings.log_format == "json" else "human",
        settings.node_name or default_node_name(settings.http_port),
    )
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        try:
            # what exists once the server is up (modules, the app, the catalog) stays: full
            # collections need not walk it again
            runner.run(serve(settings, on_ready=lambda ports: gc.freeze()))
        except KeyboardInterrupt:
            pass
        except (ValueError, OSError, BidwireError) as exc:
            # a bad setting, a port taken, a store or bus away, a first admin's password
            # refused: said in words, no traceback
            logs.fatal(str(exc))
            raise SystemExit(2) from None


async def add_catalog(
    house: AuctionHouse, sales: Iterable[tuple[SaleSpec, list[LotSpec]]], clustered: bool
) -> None:
    """The catalog's sales into an empty store. Nodes of a cluster started at once on an empty
    store each find it empty: a sale another added first is learned from the store, not a
    failed start (one of three nodes started together stopped so)."""
    taken = False
    for sale, lots in sales:
        try:
            await house.add_sale(sale, lots)
        except Conflict:
            if not clustered:
                raise
            taken = True
    if taken:
        await house.learn_catalog()


async def _keep_missing_facts(store: Store) -> None:
    try:
        kept = await store.keep_missing_facts()
    except StoreUnavailable:
        return
    if kept:
        log.info("kept the report facts of %d closed lots", kept)
