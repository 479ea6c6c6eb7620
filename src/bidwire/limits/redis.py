"""Several nodes' limits on one Redis (redis-py asyncio): each check is one Lua script, so one
round trip, atomic on the server.

- Names: a hash per name's skeleton (``owner``, ``name``, ``until``, ``kept``) with a TTL, and a
  key per guest session pointing at it (a resume on another node). A connected guest's claim is
  short (``live``) and renewed by this node every ``refresh_ms``: a node that dies stops
  renewing, and its guests' names are free again after the TTL. A guest that has bid holds its
  name as long as its session lives (a week), whichever node it last used.
- Bid rate: one bucket per user in Redis (refilled by the callers' time, which only moves it
  forward, with debt down to ``-burst``). The bid path does not wait for it: ``RedisRate`` lets
  a bid through from this node's share, the bucket as Redis last told it less what this node
  spent since, and sends what it spent in the next loop turn (one pipeline for every user who
  bid meanwhile). The answer is the bucket after every node's spending: this node's share is
  set from it. Two nodes can thus let one user through a little more than the bucket held, for
  one round trip at most; that is paid back as debt, so over any stretch the user gets the
  rate, not the rate per node. Why not wait for Redis on each bid: it would put a round trip on
  every bid's way in and make the gate's bid check, and every transport's bid path, async.
- Login throttles: a sorted set of hits per key, trimmed to the window by the script.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bidwire.accounts.limits import MAX_TRACKED_KEYS
from bidwire.clock import Clock, SystemClock
from bidwire.errors import LimitsUnavailable
from bidwire.limits.base import BidRate, Recalled, Throttle
from bidwire.limits.memory import MemoryThrottle

log = logging.getLogger("bidwire.limits")

REFRESH_MS = 10_000
"""A live claim is renewed this often (a third of the gate's live TTL, NAME_TTL_MS)."""
TIMEOUT_SECONDS = 2.0
"""A Redis that does not answer in this long is taken as down (a hello is not held longer)."""
RETRY_MS = 1_000
"""After a failed write of the bid rate, wait this long before the next one (no busy loop)."""
MAX_KEY = 200
"""Longer keys (a login's username can be anything) are kept as their hash."""

CLAIM = """
local cur = redis.call('HGET', KEYS[1], 'owner')
if cur and cur ~= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[3])
local left = redis.call('PTTL', KEYS[1])
if left > ttl then ttl = left end
local until_ms = tonumber(ARGV[4])
local was = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if was > until_ms then until_ms = was end
local kept = ARGV[5]
if redis.call('HGET', KEYS[1], 'kept') == '1' then kept = '1' end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'name', ARGV[2], 'until', until_ms, 'kept', kept)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], KEYS[1], 'PX', ttl)
return 1
"""

RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and tonumber(redis.call('HGET', KEYS[1], 'until')) > tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == KEYS[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

RECALL = """
local key = redis.call('GET', KEYS[1])
if not key then return false end
local held = redis.call('HMGET', key, 'owner', 'name', 'kept')
if held[1] ~= ARGV[1] then return false end
return {held[2], held[3]}
"""

BUCKETS = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local ttl = math.ceil(2 * burst / rate) + 1000
local out = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'level', 'at')
  local level = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  if now > at then
    level = math.min(burst, level + (now - at) * rate)
    at = now
  end
  level = math.max(-burst, level - tonumber(ARGV[3 + i]))
  redis.call('HSET', key, 'level', tostring(level), 'at', at)
  redis.call('PEXPIRE', key, ttl)
  out[2 * i - 1] = tostring(level)
  out[2 * i] = at
end
return out
"""
"""Every user who bid since the last write, in one call: one command to build and parse per
BUCKETS_PER_CALL users rather than one per user (a command costs the client ~10 µs)."""
BUCKETS_PER_CALL = 500
"""Users per call at most: the script holds Redis while it runs."""

RESERVE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""

Client = aioredis.Redis


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return "#" + hashlib.sha256(key.encode()).hexdigest()


class _Background:
    """Writes nobody waits for, kept so they can be waited for (and never garbage collected
    half way), their failures logged once per outage rather than once per write."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.failing = False
        self._last: asyncio.Task[Any] | None = None

    def run(self, write: Coroutine[Any, Any, Any]) -> None:
        """Run ``write`` after the one before it: a release never overtakes the claim made
        just before it on another of the pool's connections."""
        task = asyncio.ensure_future(self._after(self._last, write))
        self._last = task
        self.tasks.add(task)
        task.add_done_callback(self._done)

    @staticmethod
    async def _after(previous: asyncio.Task[Any] | None, write: Coroutine[Any, Any, Any]) -> Any:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})
        return await write

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.failed(exc)
        else:
            self.failing = False

    def failed(self, exc: BaseException) -> None:
        if not self.failing:
            log.warning("the shared limits' Redis is not answering: %s", exc)
        self.failing = True

    async def settled(self) -> None:
        while self.tasks:
            await asyncio.wait(set(self.tasks))


@dataclass(slots=True)
class _Held:
    owner: str
    name: str
    ttl_ms: int
    until: int
    live: bool
    kept: bool


class RedisNames:
    def __init__(self, limits: RedisLimits) -> None:
        self._limits = limits
        self._client = limits.client
        self._prefix = limits.prefix
        self._claim = self._client.register_script(CLAIM)
        self._release = self._client.register_script(RELEASE)
        self._recall = self._client.register_script(RECALL)
        self.held: dict[str, _Held] = {}
        """Every claim this node made and holds: the live ones it renews, and all of them it
        makes again after Redis restarts (it may have lost them)."""
        self._run_id: str | None = None

    def _keys(self, key: str, owner: str) -> list[str]:
        return [f"{self._prefix}name:{_bounded(key)}", f"{self._prefix}guest:{owner}"]

    def _args(self, held: _Held, now_ms: int) -> list[str | int]:
        ttl_ms = held.ttl_ms if held.live else max(1, held.until - now_ms)
        return [held.owner, held.name, ttl_ms, now_ms + ttl_ms, "1" if held.kept else "0"]

    async def claim(
        self,
        key: str,
        owner: str,
        name: str,
        ttl_ms: int,
        now_ms: int,
        *,
        live: bool,
        kept: bool = False,
    ) -> bool:
        held = _Held(owner, name, ttl_ms, now_ms + ttl_ms, live, kept)
        try:
            won = await self._claim(keys=self._keys(key, owner), args=self._args(held, now_ms))
        except (RedisError, OSError) as exc:
            self._limits.background.failed(exc)
            raise LimitsUnavailable(
                "guest names are shared by this house's servers and their store is not"
                " answering; try again in a moment, or log in"
            ) from None
        if won:
            self._follow(key, held)
        return bool(won)

    def _follow(self, key: str, held: _Held) -> None:
        before = self.held.get(key)
        if before is not None and before.owner == held.owner:
            held.until = max(held.until, before.until)
            held.kept = held.kept or before.kept
        self.held[key] = held

    def extend(
        self,
        key: str,
        owner: str,
        name: str,
        ttl_ms: int,
        now_ms: int,
        *,
        live: bool,
        kept: bool = False,
    ) -> None:
        held = _Held(owner, name, ttl_ms, now_ms + ttl_ms, live, kept)
        self._follow(key, held)
        self._limits.background.run(
            self._claim(keys=self._keys(key, owner), args=self._args(held, now_ms))
        )

    def release(self, key: str, owner: str, until_ms: int | None = None) -> None:
        held = self.held.get(key)
        if held is not None and held.owner == owner:
            del self.held[key]
        self._limits.background.run(
            self._release(
                keys=self._keys(key, owner), args=[owner, "" if until_ms is None else until_ms]
            )
        )

    async def holder(self, key: str) -> str | None:
        try:
            owner = await self._client.hget(self._keys(key, "")[0], "owner")
        except (RedisError, OSError) as exc:
            self._limits.background.failed(exc)
            return None
        return owner.decode() if isinstance(owner, bytes) else owner

    async def recall(self, owner: str) -> Recalled | None:
        try:
            held = await self._recall(keys=[self._keys("", owner)[1]], args=[owner])
        except (RedisError, OSError) as exc:
            self._limits.background.failed(exc)
            raise LimitsUnavailable(
                "guest sessions are shared by this house's servers and their store is not"
                " answering; try again in a moment"
            ) from None
        if not held:
            return None
        return Recalled(held[0].decode(), held[1] == b"1")

    async def renew(self) -> int:
        """Renew every live claim this node holds, and after a Redis restart every claim, in
        one pipeline; how many were made. One lost (this node was cut off past the TTL and
        another took it, or took it after a restart) is dropped, and said."""
        now = self._limits.clock.now_ms()
        for key in [k for k, held in self.held.items() if not held.live and held.until <= now]:
            del self.held[key]  # lapsed in Redis too
        info = await self._client.info("server")
        run_id = str(info.get("run_id", ""))
        restarted = self._run_id is not None and run_id != self._run_id
        self._run_id = run_id
        claims = [(k, held) for k, held in self.held.items() if held.live or restarted]
        if not claims:
            return 0
        if restarted:
            log.warning("the shared limits' Redis restarted: claiming %d names again", len(claims))
        async with self._client.pipeline(transaction=False) as pipe:
            for key, held in claims:
                await self._claim(
                    keys=self._keys(key, held.owner), args=self._args(held, now), client=pipe
                )
            won = await pipe.execute()
        for (key, held), ok in zip(claims, won, strict=True):
            if not ok and self.held.get(key) is held:
                del self.held[key]
                log.warning("the guest name %r was taken on another node meanwhile", held.name)
        return len(claims)


class RedisRate:
    """One node's share of every user's shared bucket (see the module's header)."""

    def __init__(self, limits: RedisLimits, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._limits = limits
        self._script = limits.client.register_script(BUCKETS)
        self._prefix = f"{limits.prefix}rate:"
        self._share: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._spent: dict[str, int] = {}
        """Let through here and not yet sent to Redis."""
        self._now = 0
        self._sending: asyncio.Task[None] | None = None
        self.round_trips = 0

    def take(self, key: str, now_ms: int) -> bool:
        level, at = self._share.get(key, (float(self.burst), now_ms))
        if now_ms > at:
            level = min(float(self.burst), level + (now_ms - at) * self.rate / 1000)
            at = now_ms
        allowed = level >= 1
        if allowed:
            level -= 1
            self._spent[key] = self._spent.get(key, 0) + 1
            self._now = max(self._now, now_ms)
            if self._sending is None:
                self._sending = asyncio.get_running_loop().create_task(self._send())
        self._share[key] = (level, at)
        self._share.move_to_end(key)
        if len(self._share) > MAX_TRACKED_KEYS:
            self._share.popitem(last=False)
        return allowed

    async def _send(self) -> None:
        try:
            while self._spent:
                batch, self._spent = self._spent, {}
                try:
                    replies = await self._debit(batch, self._now)
                except (RedisError, OSError) as exc:
                    # this node's share goes on refilling by itself: the rate holds per node
                    # until Redis answers again; what was spent meanwhile is not sent
                    self._limits.background.failed(exc)
                    await asyncio.sleep(RETRY_MS / 1000)
                    continue
                self._limits.background.failing = False
                for key, level, at in zip(batch, replies[::2], replies[1::2], strict=True):
                    since = self._spent.get(key, 0)
                    self._share[key] = (float(level) - since, int(at))
        finally:
            self._sending = None

    async def _debit(self, batch: dict[str, int], now_ms: int) -> list[Any]:
        """Every bucket after this node's spending: level, at, level, at... in batch order."""
        self.round_trips += 1
        head = [self.rate / 1000, self.burst, now_ms]
        users = list(batch.items())
        async with self._limits.client.pipeline(transaction=False) as pipe:
            for start in range(0, len(users), BUCKETS_PER_CALL):
                chunk = users[start : start + BUCKETS_PER_CALL]
                await self._script(
                    keys=[self._prefix + _bounded(key) for key, _ in chunk],
                    args=head + [spent for _, spent in chunk],
                    client=pipe,
                )
            replies = await pipe.execute()
        return [value for reply in replies for value in reply]

    async def settled(self) -> None:
        while self._sending is not None:
            await asyncio.wait({self._sending})


class RedisThrottle:
    def __init__(self, limits: RedisLimits, name: str, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self._limits = limits
        self._script = limits.client.register_script(RESERVE)
        self._prefix = f"{limits.prefix}throttle:{name}:"
        self._local = MemoryThrottle(limit, window_ms)
        """While Redis does not answer: this node's own count."""

    async def reserve(self, key: str, now_ms: int) -> object | None:
        member = f"{now_ms}:{secrets.token_hex(6)}"
        try:
            ok = await self._script(
                keys=[self._prefix + _bounded(key)],
                args=[now_ms, self.window_ms, self.limit, member],
            )
        except (RedisError, OSError) as exc:
            self._limits.background.failed(exc)
            return await self._local.reserve(key, now_ms)
        return member if ok else None

    async def release(self, key: str, ticket: object) -> None:
        if not isinstance(ticket, str):
            await self._local.release(key, ticket)
            return
        try:
            await self._limits.client.zrem(self._prefix + _bounded(key), ticket)
        except (RedisError, OSError) as exc:
            self._limits.background.failed(exc)

    async def clear(self, key: str) -> None:
        await self._local.clear(key)
        try:
            await self._limits.client.delete(self._prefix + _bounded(key))
        except (RedisError, OSError) as exc:
            self._limits.background.failed(exc)


class RedisLimits:
    shared = True

    def __init__(
        self,
        client: Client,
        prefix: str = "bidwire:",
        clock: Clock | None = None,
        refresh_ms: int = REFRESH_MS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock or SystemClock()
        self.refresh_ms = refresh_ms
        self.background = _Background()
        self.names = RedisNames(self)
        self._rates: list[RedisRate] = []
        self._renewing: asyncio.Task[None] | None = None

    def bid_rate(self, rate: float, burst: int) -> BidRate:
        bucket = RedisRate(self, rate, burst)
        self._rates.append(bucket)
        return bucket

    def throttle(self, name: str, limit: int, window_ms: int) -> Throttle:
        return RedisThrottle(self, name, limit, window_ms)

    def start(self) -> None:
        if self._renewing is None:
            self._renewing = asyncio.get_running_loop().create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_ms / 1000)
            try:
                await self.names.renew()
            except (RedisError, OSError) as exc:
                self.background.failed(exc)

    def stop_renewing(self) -> None:
        """Renew nothing from now on (what a node that dies does; tests)."""
        if self._renewing is not None:
            self._renewing.cancel()
            self._renewing = None

    async def settled(self) -> None:
        for bucket in self._rates:
            await bucket.settled()
        await self.background.settled()

    async def close(self) -> None:
        """Stop renewing (names this node holds expire by themselves) and close the client."""
        self.stop_renewing()
        await self.settled()
        await self.client.aclose()


def parse_url(url: str) -> tuple[str, str]:
    """The Redis URL to connect to and the key prefix (``?prefix=``, default ``bidwire:``)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", ["bidwire:"])[0]
    rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
    return urlunsplit(parts._replace(query=rest)), prefix


@asynccontextmanager
async def open_redis_limits(url: str, clock: Clock | None = None) -> AsyncIterator[RedisLimits]:
    address, prefix = parse_url(url)
    client = aioredis.from_url(
        address, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    limits = RedisLimits(client, prefix, clock)
    limits.start()
    try:
        yield limits
    finally:
        await limits.close()
