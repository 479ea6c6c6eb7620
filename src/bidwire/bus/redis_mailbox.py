"""Letters to a node by name, over Redis pub/sub: what carries forwarded bids and their
answers between nodes (transports/nodes.py says what is in them).

Each node subscribes to its own channel, ``<channel>:node:<name>``, on the bus's Redis; the
letters to a node are a PUBLISH on that node's channel, those queued together in one message
(a bundle: Redis and the receiving node handle one message instead of many; under a storm of
forwarded bids that was most of their cost). At most once, like the bus: a letter to a
node that is down, or lost across a reconnect, is answered by the asker's timeout. Sending is
synchronous into a bounded queue that one task drains (many letters to a round trip), and the
subscription is supervised as the bus's is (reconnect with capped, jittered backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import msgspec

from bidwire.bus.redis import Backoff, RedisBusOptions, connect
from bidwire.errors import BusUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("bidwire.nodes")

MAX_QUEUED = 100_000
"""Letters waiting to go out at most; past it the oldest are dropped (their askers time out)."""
MAX_BATCH = 1_024
BUNDLE = b"B"
"""A message of several letters starts with this byte, then their msgpack array (a letter
alone is msgpack itself: an array, never this byte)."""

_bundle = msgspec.msgpack.Encoder().encode
_unbundle = msgspec.msgpack.Decoder(list[bytes]).decode


def node_channel(channel: str, node: str) -> str:
    return f"{channel}:node:{node}"


class RedisMailbox:
    def __init__(self, client: Redis, channel: str, node: str) -> None:
        self.client = client
        self.channel = channel
        self.node = node
        self.handler: Callable[[bytes], None] | None = None
        self._queue: deque[tuple[str, bytes]] = deque(maxlen=MAX_QUEUED)
        self._wake = asyncio.Event()
        self.subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        """Letters handed to Redis."""
        self.messages = 0
        """Redis messages they went in (fewer: letters queued together share one)."""
        self.received = 0
        self.dropped = 0

    def send(self, node: str, data: bytes) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append((node_channel(self.channel, node), data))
        self._wake.set()

    async def _send_loop(self) -> None:
        backoff = Backoff()
        batch: list[tuple[str, bytes]] = []
        while True:
            if not batch:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
            messages = _bundled(batch)
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, data in messages:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis is away: the letters wait (their askers may not)
                delay = backoff.next()
                log.warning("letters not sent (%s); again in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            self.sent += len(batch)
            self.messages += len(messages)
            batch = []
            backoff.reset()

    async def _listen_loop(self) -> None:
        from redis.exceptions import RedisError

        backoff = Backoff()
        mine = node_channel(self.channel, self.node)
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(mine)
                async for raw in pubsub.listen():
                    if raw["type"] == "subscribe":
                        backoff.reset()
                        self.subscribed.set()
                    elif raw["type"] == "message" and self.handler is not None:
                        self._hear(raw["data"], self.handler)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("letters' subscription lost (%s); subscribing again", exc)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            await asyncio.sleep(backoff.next())

    def _hear(self, data: bytes, handler: Callable[[bytes], None]) -> None:
        try:
            letters = _unbundle(data[1:]) if data[:1] == BUNDLE else [data]
        except msgspec.DecodeError:
            log.warning(
                "a bundle of letters that does not decode (%d bytes) was dropped", len(data)
            )
            return
        for letter in letters:
            self.received += 1
            try:
                handler(letter)
            except Exception:
                log.exception("a letter's handler failed")

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_loop(), name="letters-listen"),
            asyncio.create_task(self._send_loop(), name="letters-send"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


def _bundled(batch: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """One message per channel, in the order each was first written to (a node's letters keep
    their order: they share one message, or follow each other in one pipeline)."""
    by_channel: dict[str, list[bytes]] = {}
    for channel, data in batch:
        by_channel.setdefault(channel, []).append(data)
    return [
        (channel, letters[0] if len(letters) == 1 else BUNDLE + _bundle(letters))
        for channel, letters in by_channel.items()
    ]


@asynccontextmanager
async def open_redis_mailbox(url: str, node: str) -> AsyncIterator[RedisMailbox]:
    """This node's mailbox on the bus URL's Redis and channel, once subscribed."""
    options = RedisBusOptions.from_url(url)
    client = connect(options)
    box = RedisMailbox(client, options.channel, node)
    try:
        box.start()
        try:
            await asyncio.wait_for(box.subscribed.wait(), options.connect_seconds)
        except TimeoutError:
            raise BusUnavailable(
                f"the nodes' letters on the bus's Redis did not subscribe within"
                f" {options.connect_seconds:g}s"
            ) from None
        yield box
    finally:
        await box.close()
        await client.aclose()
