"""The bus of several nodes: Redis pub/sub, one channel per cluster, one subscription per node.

Principles:
- At most once, and that is enough: Redis pub/sub keeps nothing for a subscriber that is away
  (a reconnect, a restart, a full output buffer), so every message is a hint. Subscribers check
  each stream's seq (``InOrder``), and what is missing is reloaded from the store, which is the
  truth (``engine/resync.py``). This bus only has to say when it may have missed something.
- ``publish`` stays synchronous, as the ``Bus`` protocol says: local handlers hear the event at
  once (one node keeps MemoryBus's latency), and its bytes join a bounded queue that one sender
  task drains in order, many events to a frame. One sender and one channel keep each stream's
  order; a full queue drops its oldest message (logged, counted), so the others hear the newest
  at once and the gap before it makes them reload; it never makes ``publish`` wait.
- A node hears its own frames too (Redis sends them to every subscriber): it drops them by the
  frame's node id, since its handlers heard those events inside ``publish``.
- One subscription per node, read by redis-py's ``listen()`` loop (a blocking read, not
  ``get_message`` polling, which burned CPU: redis-py #3208), under supervision: redis-py's own
  retries are off so that a broken connection surfaces here, and every subscription after the
  first (a reconnect) tells the ``watch_lost`` callbacks. A connection that goes quiet without
  breaking (a stopped server, a cut cable) is found by a ping it must answer.

A frame is ``[node, sent, [[stream, key, seq, event], ...]]`` in JSON (``sent``: when its oldest
event was published, seconds since the epoch, for the ``lag`` histogram), each event encoded
once, when published (readable with ``redis-cli subscribe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from bidwire.bus.base import Handler, Message, StreamKind
from bidwire.clock import wall_seconds, work_timer
from bidwire.domain.events import LotEvent, SaleEvent
from bidwire.errors import BusUnavailable
from bidwire.metrics import BUS_LAG_BUCKETS, Histogram

if TYPE_CHECKING:  # redis is imported when a redis:// bus is opened, not with bidwire.bus
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger("bidwire.bus")

MAX_QUEUED = 100_000
"""Messages waiting for the sender at most (about 200 bytes each): past it the oldest go."""
MAX_FRAME_EVENTS = 512
"""Events in one Redis message at most: a frame is read whole by every node."""
MAX_SEND_EVENTS = 8_192
"""Events taken from the queue for one round trip (a pipeline of frames)."""
CONNECT_SECONDS = 5.0
"""How long the opener waits for the first subscription, and each connect or reply at most."""
PING_SECONDS = 5.0
"""A quiet subscription is pinged this often; one that stays silent three times as long is
dropped and made again."""
BACKOFF_FIRST = 0.05
BACKOFF_CAP = 2.0
CLOSE_SECONDS = 2.0
"""At close, how long what is queued may take to go out."""


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    stream: StreamKind
    key: str
    seq: int
    event: LotEvent | SaleEvent


class Frame(msgspec.Struct, array_like=True, frozen=True):
    node: str
    sent: float
    events: list[Envelope]


ENCODER = msgspec.json.Encoder()
FRAME_DECODER: msgspec.json.Decoder[Frame] = msgspec.json.Decoder(Frame)


@dataclass(frozen=True, slots=True)
class RedisBusOptions:
    """What a ``redis://`` URL says beyond the server: ``?channel=`` (one per cluster: every
    node of it names the same), ``max_queued=``, ``node=`` (a name put in front of the frames'
    random sender id, for a person reading them), ``connect_seconds=``, ``ping_seconds=``."""

    server_url: str
    channel: str = "bidwire"
    max_queued: int = MAX_QUEUED
    node: str = ""
    connect_seconds: float = CONNECT_SECONDS
    ping_seconds: float = PING_SECONDS

    @classmethod
    def from_url(cls, url: str) -> RedisBusOptions:
        parts = urlsplit(url)
        ours: dict[str, str] = {}
        theirs: list[tuple[str, str]] = []
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name in _OPTIONS:
                ours[name] = value  # "prefix" among them: kept, never used here
            else:
                theirs.append((name, value))  # redis-py's own (e.g. socket_keepalive)
        server = urlunsplit(parts._replace(query=urlencode(theirs)))
        channel = ours.get("channel", "bidwire")
        if not channel:
            raise ValueError(f"empty channel in bus URL {_hide_password(url)!r}")
        return cls(
            server_url=server,
            channel=channel,
            max_queued=_number(url, ours, "max_queued", int, MAX_QUEUED),
            node=ours.get("node", ""),
            connect_seconds=_number(url, ours, "connect_seconds", float, CONNECT_SECONDS),
            ping_seconds=_number(url, ours, "ping_seconds", float, PING_SECONDS),
        )


BUS_OPTIONS = frozenset({"channel", "max_queued", "node", "connect_seconds", "ping_seconds"})
"""The bus's own query options: what any other user of the same URL (the shared limits) drops."""
_OPTIONS = BUS_OPTIONS | {"prefix"}
"""And the shared limits' key prefix (limits/redis.py), which a ``--bus`` URL carries for them."""


def _number(url: str, given: dict[str, str], name: str, kind: type[Any], default: Any) -> Any:
    if name not in given:
        return default
    try:
        value = kind(given[name])
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise ValueError(
            f"{name} must be a positive number, not {given[name]!r}, in bus URL "
            f"{_hide_password(url)!r}"
        )
    return value


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(slots=True)
class Backoff:
    """Waits between attempts to reach Redis: doubling from ``first`` up to ``cap``, each
    between half and all of its step (jittered, so that the nodes of a cluster do not all come
    back in the same instant after a restart)."""

    first: float = BACKOFF_FIRST
    cap: float = BACKOFF_CAP
    rand: Callable[[], float] = random.random
    attempts: int = 0

    def next(self) -> float:
        step = min(self.cap, self.first * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        return step / 2 + step / 2 * self.rand()

    def reset(self) -> None:
        self.attempts = 0


class RedisBus:
    """See the module's docstring. Built by ``open_redis_bus``, which starts and ends its tasks;
    the counters are for /metrics and the bench."""

    def __init__(self, client: Redis, options: RedisBusOptions) -> None:
        self.client = client
        self.options = options
        self.channel = options.channel
        # random per bus even when named: two nodes given the same URL (``node=`` included)
        # must never take each other's frames for their own echo
        token = secrets.token_hex(6)
        self.node = f"{options.node}-{token}" if options.node else token
        self._head = b"[" + ENCODER.encode(self.node) + b","
        self._handlers: tuple[Handler, ...] = ()
        self._lost: tuple[Callable[[], None], ...] = ()
        self._queue: deque[bytes] = deque(maxlen=options.max_queued)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.subscribed = asyncio.Event()
        """Set while the subscription is up (what the opener and tests wait for)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._last_heard = 0.0
        self._oldest_at = 0.0
        """When the oldest event in the queue was published (the frames' ``sent``)."""
        self._send_fault: str | None = None
        self._down_since: float | None = None
        self.lag = Histogram(BUS_LAG_BUCKETS)
        """Seconds from a publish on another node to its event handed to the handlers here
        (its clock against ours: a skew shows in it)."""
        self.sent = 0
        """Events that reached Redis (counted per event, not per frame)."""
        self.frames_sent = 0
        self.heard = 0
        """Events heard from other nodes."""
        self.dropped = 0
        """Events dropped from a full queue (the other nodes reload them from the store)."""
        self.bad_frames = 0
        self.reconnects = 0
        """Subscriptions made again after a broken one."""
        self.send_failures = 0

    # -- the Bus protocol --------------------------------------------------------------------

    def publish(self, event: LotEvent) -> None:
        self._send(Message("lot", event.lot, event.seq, event))

    def publish_sale(self, event: SaleEvent) -> None:
        self._send(Message("sale", event.sale, event.seq, event))

    def subscribe(self, handler: Handler) -> Callable[[], None]:
        self._handlers += (handler,)

        def unsubscribe() -> None:
            self._handlers = tuple(h for h in self._handlers if h is not handler)

        return unsubscribe

    def watch_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._lost += (callback,)

        def unwatch() -> None:
            self._lost = tuple(c for c in self._lost if c is not callback)

        return unwatch

    def fault(self) -> str | None:
        if self._closing:
            return "the bus is closed"
        if not self.subscribed.is_set():
            since = self._down_since
            down = "" if since is None else f" for {work_timer() - since:.1f}s"
            return f"the bus's subscription to Redis is down{down}"
        return self._send_fault

    # -- out ---------------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        queue = self._queue
        if len(queue) == queue.maxlen:
            if not self.dropped % 1_000:  # the first and every thousandth after: not a flood
                log.warning(
                    "bus queue full (%d): dropping the oldest; %d dropped so far",
                    len(queue),
                    self.dropped + 1,
                )
            self.dropped += 1
        if not queue:
            self._oldest_at = wall_seconds()
        queue.append(ENCODER.encode(Envelope(*message)))
        self._idle.clear()
        self._wake.set()
        # queued before the handlers run: one that publishes in turn queues after this one
        self._deliver(message)

    async def _send_loop(self) -> None:
        backoff = Backoff()
        queue = self._queue
        batch: list[bytes] = []
        while not self._closing:
            if not batch:
                if not queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                take = min(len(queue), MAX_SEND_EVENTS)
                batch = [queue.popleft() for _ in range(take)]
                sent = self._oldest_at
                if queue:  # the rest's oldest is not known: at least as late as now
                    self._oldest_at = wall_seconds()
            try:
                await self._publish_frames(batch, sent)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # kept and sent again once Redis answers: a frame that did go out is heard
                # twice by the others, and their seq check drops the repeats
                self.send_failures += 1
                self._send_fault = f"publishing to Redis fails ({_reason(exc)})"
                delay = backoff.next()
                log.warning("bus publish failed (%s); again in %.2fs", _reason(exc), delay)
                await asyncio.sleep(delay)
                continue
            self.sent += len(batch)
            self._send_fault = None
            batch = []
            backoff.reset()

    async def _publish_frames(self, batch: list[bytes], sent: float) -> None:
        head = self._head + ENCODER.encode(sent) + b",["
        frames = [
            head + b",".join(batch[at : at + MAX_FRAME_EVENTS]) + b"]]"
            for at in range(0, len(batch), MAX_FRAME_EVENTS)
        ]
        if len(frames) == 1:
            await self.client.publish(self.channel, frames[0])
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                for frame in frames:
                    pipe.publish(self.channel, frame)
                await pipe.execute()
        self.frames_sent += len(frames)

    async def drained(self) -> None:
        """Until everything published so far has been handed to Redis."""
        await self._idle.wait()

    # -- in ----------------------------------------------------------------------------------

    def _deliver(self, message: Message) -> None:
        for handler in self._handlers:
            try:
                handler(message)
            except Exception:  # one broken subscriber must not cost the others the event
                log.exception(
                    "a bus subscriber failed on %s %s seq %d",
                    message.stream,
                    message.key,
                    message.seq,
                )

    def _hear(self, data: bytes) -> None:
        if data.startswith(self._head):
            return  # our own: heard inside publish
        try:
            frame = FRAME_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            self.bad_frames += 1
            log.warning("a bus frame that does not decode (%s): %r", exc, data[:80])
            return
        self.lag.observe_many(max(0.0, wall_seconds() - frame.sent), len(frame.events))
        for env in frame.events:
            event = env.event
            own = event.sale if isinstance(event, SaleEvent) else event.lot
            kind = "sale" if isinstance(event, SaleEvent) else "lot"
            if (env.stream, env.key, env.seq) != (kind, own, event.seq):
                self.bad_frames += 1
                log.warning("a bus message from %s not its event's: %r", frame.node, env)
                continue
            self.heard += 1
            self._deliver(Message(env.stream, env.key, env.seq, event))

    async def _listen_loop(self) -> None:
        from redis.exceptions import RedisError

        backoff = Backoff()
        first = True
        loop = asyncio.get_running_loop()
        while not self._closing:
            pubsub = self.client.pubsub()
            watchdog: asyncio.Task[None] | None = None
            try:
                await pubsub.subscribe(self.channel)
                self._last_heard = loop.time()
                watchdog = asyncio.create_task(self._watch(pubsub), name="bus-ping")
                async for raw in pubsub.listen():
                    self._last_heard = loop.time()
                    kind = raw["type"]
                    if kind == "message":
                        self._hear(raw["data"])
                    elif kind == "subscribe":
                        # the first subscription, or redis-py's own after a reconnect (when
                        # its retries are on): from here on nothing is missed, before it might be
                        backoff.reset()
                        self.subscribed.set()
                        self._down_since = None
                        if not first:
                            self._tell_lost()
                        first = False
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                if self._down_since is None:
                    self._down_since = work_timer()
                if not first:
                    self.reconnects += 1
                log.warning("bus subscription lost (%s); subscribing again", _reason(exc))
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            self.subscribed.clear()
            await asyncio.sleep(backoff.next())

    async def _watch(self, pubsub: PubSub) -> None:
        """Ping a quiet subscription; drop one that stays silent (its read would wait forever
        on a connection that broke without telling: a stopped server, a cut cable)."""
        loop = asyncio.get_running_loop()
        every = self.options.ping_seconds
        while True:
            await asyncio.sleep(every)
            quiet = loop.time() - self._last_heard
            if quiet > 3 * every:
                log.warning("bus subscription silent for %.1fs: connecting again", quiet)
                connection = pubsub.connection
                if connection is not None:
                    # nowait: waiting for the close while the listen loop still reads can
                    # deadlock (redis-py #3941); the read fails, and the loop connects again
                    await connection.disconnect(nowait=True)
                return
            if quiet >= every:
                with contextlib.suppress(Exception):  # a broken one: the listen loop sees it
                    await pubsub.ping()

    def _tell_lost(self) -> None:
        log.warning("bus subscribed again: events published meanwhile are reloaded")
        for callback in self._lost:
            try:
                callback()
            except Exception:
                log.exception("a bus lost-messages callback failed")

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_loop(), name="bus-listen"),
            asyncio.create_task(self._send_loop(), name="bus-send"),
        ]

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):  # what is queued goes out, if Redis answers
            await asyncio.wait_for(self.drained(), CLOSE_SECONDS)
        # the flag as well as the cancel: a cancel that lands as a read's timeout fires comes
        # out of asyncio.timeout as a TimeoutError, which the loops take for a broken
        # connection; and the wait is bounded whatever a task does
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=CLOSE_SECONDS)
            for task in pending:
                log.error("bus task %s did not stop within %ss", task.get_name(), CLOSE_SECONDS)
        self._tasks = []
        self._handlers = ()
        self._lost = ()


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def connect(options: RedisBusOptions) -> Redis:
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Redis.from_url(
        options.server_url,
        # no retries inside redis-py: a broken connection must reach the supervisor, which
        # backs off and tells the subscribers that they may have missed events
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=options.connect_seconds,
        socket_timeout=options.connect_seconds,
        socket_keepalive=True,
    )


@asynccontextmanager
async def open_redis_bus(url: str) -> AsyncIterator[RedisBus]:
    """A started bus, once its subscription is up (BusUnavailable if Redis does not answer
    within ``connect_seconds``); closed with its tasks and connections."""
    options = RedisBusOptions.from_url(url)
    client = connect(options)
    bus = RedisBus(client, options)
    try:
        bus.start()
        try:
            await asyncio.wait_for(bus.subscribed.wait(), options.connect_seconds)
        except TimeoutError:
            where = urlsplit(options.server_url)
            raise BusUnavailable(
                f"the bus at redis://{where.hostname}:{where.port or 6379} did not answer "
                f"within {options.connect_seconds:g}s"
            ) from None
        yield bus
    finally:
        await bus.close()
        await client.aclose()
