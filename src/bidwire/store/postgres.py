"""The store for several nodes: PostgreSQL through asyncpg, with group commit, the sales'
leases as a fence, and optionally the database's clock as the judge of deadlines.

Principles:
- One writer task per store takes every job queued while the previous commit ran and commits
  them in one transaction (as SqliteStore's writer thread does): a hot lot's appends become one
  UPDATE of its state row and one multi-row INSERT of their events, a handful of round trips
  and one WAL flush for the whole batch. A job that fails (a moved seq, a used request key, a
  lost lease, a deadline) fails alone: the batch falls back to one savepoint per job.
- ``append`` queues synchronously and returns a future, so the log keeps decision order with
  no lock; the future resolves after COMMIT.
- The fence: a sale whose lease this store took (``acquire_lease``) is written only while the
  lease row still has this holder and epoch, checked in the batch's own transaction with the
  row share-locked, so a node that takes the sale over waits for the commit in flight and every
  later append of the old holder is refused (LeaseLost). Without a lease an append is unfenced
  (one node, as on SQLite).
- The database's clock (``db_clock``): a bid commits only if ``clock_timestamp()``, read in the
  statement that moves the lot's seq, is before the lot's stored ``ends_at``; a close at the
  deadline only if at or after it. A node's clock, fast or slow, can then neither close a lot
  early nor get a late bid accepted.
- PostgreSQL down is StoreUnavailable with the reason in words (``fault()``), never a driver
  error; the next commit or read connects afresh, and a probe clears the fault once the server
  answers again, with no restart.
- Every limit is finite: the batch, the pool, the connect and command timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from bidwire.accounts.records import UserRecord, UserRole
from bidwire.domain.events import (
    KEYED_EVENT_TYPES,
    SALE_EVENT_TYPES,
    BidPlaced,
    KeyedEvent,
    LotClosed,
    LotEvent,
    LotPaused,
    MaxRaised,
    SaleEvent,
)
from bidwire.domain.lot import LotSnapshot, LotSpec
from bidwire.domain.names import skeleton
from bidwire.domain.sale import SaleSpec
from bidwire.errors import (
    BadRequest,
    Conflict,
    LeaseLost,
    SeqConflict,
    StoreUnavailable,
    TooEarly,
    TooLate,
)
from bidwire.store.base import (
    EVENT_DECODER,
    SALE_EVENT_DECODER,
    SNAPSHOT_ENCODER,
    BidTally,
    CatalogLot,
    ListingEntry,
    LotLog,
    decode_snapshot,
    lot_spec_from_record,
    lot_spec_to_record,
    sale_spec_from_record,
    sale_spec_to_record,
)
from bidwire.store.postgres_activity import PostgresActivity
from bidwire.store.postgres_history import PostgresHistory
from bidwire.store.postgres_reports import PostgresReports
from bidwire.store.postgres_schema import MIGRATION_LOCK, MIGRATIONS, VERSION_TABLE

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """The writer's own connection, or one of the pool's."""
else:
    Conn = Any

log = logging.getLogger("bidwire.store")

MAX_BATCH = 2048
"""Jobs committed in one transaction at most; bounds a commit's latency under load."""
POOL_SIZE = 4
"""Reading connections at most (``?pool=N``); the writer has one more of its own."""
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0
"""A statement that takes longer is cancelled and its job fails as StoreUnavailable."""
PROBE_EVERY_S = 0.5
"""How often a store at fault asks whether PostgreSQL answers again."""

SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

BEFORE_DEADLINE = (BidPlaced, MaxRaised)
"""Events that the database's clock must place before the lot's deadline (and a buy-now)."""
TIMED_CLOSES = frozenset({"hammer", "reserve_not_met", "no_bids"})
"""Close reasons that mean "the deadline came": the clock must place them at or after it."""


@dataclass(frozen=True, slots=True)
class PostgresOptions:
    """What ``postgresql://USER@HOST:PORT/DB?schema=S&db_clock=1&pool=N`` asks for; the rest of
    the query goes to asyncpg as it is (``sslmode`` and the like)."""

    dsn: str
    schema: str | None = None
    """The store's tables live in this schema (made if missing): several stores, or every test
    run, in one database."""
    db_clock: bool = False
    pool: int = POOL_SIZE

    @classmethod
    def from_url(cls, url: str) -> PostgresOptions:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL: {url!r}")
        ours: dict[str, str] = {}
        rest: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            (ours.__setitem__(key, value) if key in ("schema", "db_clock", "pool") else None)
            if key not in ("schema", "db_clock", "pool"):
                rest.append((key, value))
        schema = ours.get("schema") or None
        if schema is not None and not SCHEMA_NAME.fullmatch(schema):
            raise ValueError(
                f"bad schema {schema!r} in {url!r}: lower-case letters, digits and _ only"
            )
        clock = ours.get("db_clock", "0")
        if clock not in ("0", "1", "true", "false"):
            raise ValueError(f"bad db_clock {clock!r} in {url!r}: use db_clock=1 or 0")
        try:
            pool = int(ours.get("pool", POOL_SIZE))
        except ValueError:
            raise ValueError(f"bad pool size in {url!r}: a whole number 1..64") from None
        if not 1 <= pool <= 64:
            raise ValueError(f"bad pool size {pool} in {url!r}: a whole number 1..64")
        dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
        return cls(dsn, schema, clock in ("1", "true"), pool)

    def where(self) -> str:
        """The server and database, for messages (never the password)."""
        parts = urlsplit(self.dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        db = parts.path.lstrip("/") or "(default)"
        return f"PostgreSQL at {host}:{port}, database {db}" + (
            f", schema {self.schema}" if self.schema else ""
        )


@dataclass(frozen=True, slots=True)
class LeaseRow:
    sale_id: str
    holder: str
    epoch: int
    expires_at: int
    """In the database's clock (ms)."""


class _Unchanged:
    """The lot's stored ``ends_at`` stays as it is (its append set no deadline)."""


UNCHANGED = _Unchanged()


@dataclass(slots=True)
class _Append:
    """An append as data, so that a run of them can be committed with a few statements."""

    stream: str
    """'lot' or 'sale'."""
    lot_id: str
    expected: int
    last_seq: int
    snapshot: bytes | None
    status: str | None
    ends_at: int | _Unchanged | None
    """The deadline after these events, kept for the database clock's check."""
    before_deadline: bool
    """It holds a bid or a buy: the clock must be before the deadline it found."""
    at_deadline: bool
    """It closes the lot at its deadline: the clock must be at or after it."""
    rows: list[tuple[str, str, int, str, int, bytes, bytes | None]]


Run = Callable[[Conn], Awaitable[None]]


@dataclass(slots=True)
class _Job:
    run: Run | None
    future: asyncio.Future[None]
    append: _Append | None = None
    error: BaseException | None = field(default=None)


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (
        OSError,
        TimeoutError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.OperatorInterventionError,
        asyncpg.exceptions.InsufficientResourcesError,
        # a connection the server cut while it was idle can be left in a state where the
        # next query fails so ("cannot switch to state ..."): it is gone as much as a reset one
        asyncpg.exceptions.InternalClientError,
    )


async def _no_reset(conn: Conn) -> None:
    """The pool's release runs no reset query (a round trip per read): reads leave no state."""


class PostgresAccounts:
    """The account tables of a PostgresStore (mixin: writes go through the same writer)."""

    _USER_COLUMNS = "id, username, role, password_hash, blocked, created_at"

    def _submit(self, run: Run) -> asyncio.Future[None]:
        raise NotImplementedError

    async def _read(self, fn: Callable[[Conn], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    @staticmethod
    def _user(row: Any) -> UserRecord | None:
        if row is None:
            return None
        return UserRecord(int(row[0]), str(row[1]), row[2], str(row[3]), bool(row[4]), int(row[5]))

    async def create_user(
        self, username: str, role: UserRole, password_hash: str, now_ms: int
    ) -> UserRecord:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO users (username, role, password_hash, created_at, name_skeleton)"
                " VALUES ($1, $2, $3, $4, $5)",
                username,
                role,
                password_hash,
                now_ms,
                skeleton(username),
            )

        await self._submit(run)  # a taken name breaks the UNIQUE (without case): Conflict
        user = await self.get_user(username)
        assert user is not None
        return user

    async def get_user(self, username: str) -> UserRecord | None:
        async def read(conn: Conn) -> UserRecord | None:
            row = await conn.fetchrow(
                f"SELECT {self._USER_COLUMNS} FROM users WHERE username = $1", username
            )
            return self._user(row)

        result: UserRecord | None = await self._read(read)
        return result

    async def user_like(self, name: str) -> UserRecord | None:
        async def read(conn: Conn) -> UserRecord | None:
            row = await conn.fetchrow(
                f"SELECT {self._USER_COLUMNS} FROM users WHERE name_skeleton = $1"
                " ORDER BY id LIMIT 1",
                skeleton(name),
            )
            return self._user(row)

        result: UserRecord | None = await self._read(read)
        return result

    async def list_users(self) -> list[UserRecord]:
        async def read(conn: Conn) -> list[UserRecord]:
            rows = await conn.fetch(f"SELECT {self._USER_COLUMNS} FROM users ORDER BY id")
            return [user for row in rows if (user := self._user(row)) is not None]

        result: list[UserRecord] = await self._read(read)
        return result

    async def update_user(
        self,
        user_id: int,
        *,
        blocked: bool | None = None,
        role: UserRole | None = None,
        password_hash: str | None = None,
    ) -> None:
        changes: dict[str, Any] = {
            "blocked": None if blocked is None else int(blocked),
            "role": role,
            "password_hash": password_hash,
        }
        cols = {k: v for k, v in changes.items() if v is not None}
        if not cols:
            return
        assignments = ", ".join(f"{k} = ${n}" for n, k in enumerate(cols, start=2))

        async def run(conn: Conn) -> None:
            await conn.execute(
                f"UPDATE users SET {assignments} WHERE id = $1", user_id, *cols.values()
            )

        await self._submit(run)

    async def add_token(self, token_hash: str, user_id: int, expires_at: int) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                token_hash,
                user_id,
                expires_at,
            )

        await self._submit(run)

    async def token_user(self, token_hash: str, now_ms: int) -> UserRecord | None:
        cols = ", ".join(f"u.{c.strip()}" for c in self._USER_COLUMNS.split(","))

        async def read(conn: Conn) -> UserRecord | None:
            row = await conn.fetchrow(
                f"SELECT {cols} FROM tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = $1 AND t.revoked = 0 AND t.expires_at > $2",
                token_hash,
                now_ms,
            )
            return self._user(row)

        result: UserRecord | None = await self._read(read)
        return result

    async def revoke_token(self, token_hash: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute("UPDATE tokens SET revoked = 1 WHERE token_hash = $1", token_hash)

        await self._submit(run)

    async def revoke_user_tokens(self, user_id: int) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute("UPDATE tokens SET revoked = 1 WHERE user_id = $1", user_id)

        await self._submit(run)

    async def audit(self, actor: str, action: str, detail: str, now_ms: int) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO audit (ts, actor, action, detail) VALUES ($1, $2, $3, $4)",
                now_ms,
                actor,
                action,
                detail,
            )

        await self._submit(run)

    async def audit_log(self, limit: int) -> list[tuple[int, str, str, str]]:
        async def read(conn: Conn) -> list[tuple[int, str, str, str]]:
            rows = await conn.fetch(
                "SELECT ts, actor, action, detail FROM audit ORDER BY id DESC LIMIT $1", limit
            )
            return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

        result: list[tuple[int, str, str, str]] = await self._read(read)
        return result

    async def save_guest(self, token_hash: str, name: str, last_seen: int) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO guest_sessions (token_hash, name, last_seen) VALUES ($1, $2, $3)"
                " ON CONFLICT (token_hash) DO UPDATE SET name = EXCLUDED.name,"
                " last_seen = GREATEST(guest_sessions.last_seen, EXCLUDED.last_seen)",
                token_hash,
                name,
                last_seen,
            )

        await self._submit(run)

    async def drop_guest(self, token_hash: str) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute("DELETE FROM guest_sessions WHERE token_hash = $1", token_hash)

        await self._submit(run)

    async def kept_guests(self, since_ms: int, limit: int) -> list[tuple[str, str, int]]:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "DELETE FROM guest_sessions WHERE last_seen < $1 OR token_hash NOT IN"
                " (SELECT token_hash FROM guest_sessions ORDER BY last_seen DESC LIMIT $2)",
                since_ms,
                limit,
            )

        async def read(conn: Conn) -> list[tuple[str, str, int]]:
            rows = await conn.fetch("SELECT token_hash, name, last_seen FROM guest_sessions")
            return [(str(h), str(name), int(seen)) for h, name, seen in rows]

        await self._submit(run)
        result: list[tuple[str, str, int]] = await self._read(read)
        return result


class PostgresStore(PostgresAccounts, PostgresActivity, PostgresHistory, PostgresReports):
    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self.db_clock = options.db_clock
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._writer_conn: Conn | None = None
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._writer_task: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._writing = False
        self._closing = False
        self._fault: str | None = None
        self._held: dict[str, tuple[str, int]] = {}
        """Sale -> (holder, epoch) of the leases this store took and has not released."""
        self._lot_sale: dict[str, str] = {}
        """Each lot's sale, as catalogued (a lot never changes sale): the fence's key."""
        self.commits = 0
        """Transactions committed; with ``appends`` it shows the group-commit batch size."""
        self.appends = 0
        self._keeping: set[asyncio.Task[None]] = set()

    # -- opening and closing ---------------------------------------------------------------

    def _settings(self) -> dict[str, str]:
        settings = {"application_name": "bidwire"}
        if self.options.schema is not None:
            settings["search_path"] = self.options.schema
        return settings

    async def _connect(self) -> Conn:
        import asyncpg

        conn: Conn = await asyncpg.connect(
            self.options.dsn,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            server_settings=self._settings(),
        )
        return conn

    async def __aenter__(self) -> PostgresStore:
        import asyncpg

        try:
            conn = await self._connect()
            try:
                await self._migrate(conn)
            except BaseException:
                await conn.close()
                raise
            self._writer_conn = conn
            self._pool = await asyncpg.create_pool(
                self.options.dsn,
                min_size=1,
                max_size=self.options.pool,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=COMMAND_TIMEOUT_S,
                server_settings=self._settings(),
                reset=_no_reset,
            )
        except _unavailable_errors() as exc:
            await self._close_connections()
            raise StoreUnavailable(
                f"cannot open the store: {self.options.where()} cannot be reached ({exc})"
            ) from None
        except asyncpg.PostgresError as exc:
            await self._close_connections()
            raise StoreUnavailable(
                f"cannot open the store on {self.options.where()}: {exc}"
            ) from None
        self._writing = True
        self._writer_task = asyncio.get_running_loop().create_task(
            self._write_loop(), name="bidwire-postgres-writer"
        )
        return self

    async def _migrate(self, conn: Conn) -> None:
        schema = self.options.schema
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", MIGRATION_LOCK, schema or ""
            )
            if schema is not None:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(VERSION_TABLE)
            version = await conn.fetchval("SELECT version FROM schema_version")
            if version is None:
                version = 0
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await conn.execute(script)
                await conn.execute("UPDATE schema_version SET version = $1", number)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in list(self._keeping):
            task.cancel()
        await asyncio.gather(*self._keeping, return_exceptions=True)
        if self._writer_task is not None:
            self._closing = True
            self._jobs.put_nowait(None)  # after every queued job: in-flight appends still commit
            with contextlib.suppress(Exception):
                await self._writer_task
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
        await self._close_connections()

    async def _close_connections(self) -> None:
        if self._writer_conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer_conn.close(), CONNECT_TIMEOUT_S)
            self._writer_conn = None
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), CONNECT_TIMEOUT_S)
            except Exception:
                self._pool.terminate()
            self._pool = None

    # -- faults ----------------------------------------------------------------------------

    def fault(self) -> str | None:
        """Why no commit can succeed now (as the last commit or read found it), or None."""
        if not self._writing or self._closing:
            return "the store is closed"
        return self._fault

    def _lost(self, exc: BaseException) -> StoreUnavailable:
        """Note that PostgreSQL cannot be reached; probe until it answers again."""
        detail = str(exc) or type(exc).__name__
        self._fault = f"{self.options.where()} cannot be reached: {detail}"
        if self._probe_task is None or self._probe_task.done():
            self._probe_task = asyncio.get_running_loop().create_task(self._probe())
        return StoreUnavailable(self._fault)

    async def _probe(self) -> None:
        unavailable = _unavailable_errors()
        while self._fault is not None and not self._closing:
            await asyncio.sleep(PROBE_EVERY_S)
            try:
                conn = await self._connect()
            except unavailable:
                continue
            except Exception:  # a server that answers but refuses us: still at fault
                continue
            with contextlib.suppress(Exception):
                await conn.close()
            if self._pool is not None:
                await self._pool.expire_connections()  # every pooled connection is stale
            self._fault = None

    # -- the writer ------------------------------------------------------------------------

    async def _writer(self) -> Conn:
        conn = self._writer_conn
        if conn is None or conn.is_closed():
            self._writer_conn = None
            conn = await self._connect()
            self._writer_conn = conn
        return conn

    def _drop_writer(self) -> None:
        conn, self._writer_conn = self._writer_conn, None
        if conn is not None:
            conn.terminate()

    async def _write_loop(self) -> None:
        batch: list[_Job] = []
        try:
            stopping = False
            while not stopping:
                first = await self._jobs.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        job = self._jobs.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                try:
                    await self._commit(batch)
                except Exception as exc:
                    # a driver state nothing in _commit foresaw: the batch fails, the
                    # connection goes, and the writer lives on for the next batch
                    log.exception("postgresql commit failed")
                    self._drop_writer()
                    for job in batch:
                        job.error = job.error or StoreUnavailable(
                            f"postgresql commit failed: {exc}"
                        )
                _resolve(batch)
                batch = []
        finally:
            self._writing = False
            for job in batch:  # cancelled mid-commit: its outcome is unknown, not acknowledged
                if not job.future.done():
                    job.future.set_exception(StoreUnavailable("the store is closed"))
            while not self._jobs.empty():  # closed under a queue: nobody waits forever
                job = self._jobs.get_nowait()
                if job is not None and not job.future.done():
                    job.future.set_exception(StoreUnavailable("the store is closed"))

    async def _commit(self, batch: list[_Job]) -> None:
        import asyncpg

        try:
            conn = await self._writer()
            appends = [job for job in batch if job.append is not None]
            others = [job for job in batch if job.append is None]
            if appends and others:
                # a guest's first bid saves the guest too: the bids stay one statement, and
                # the other writes (other tables) commit beside them, before any is answered
                if await self._commit_merged(conn, appends):
                    await self._commit_others(conn, others)
                else:
                    await self._commit_each(conn, batch)
            elif not await self._commit_merged(conn, batch):
                await self._commit_each(conn, batch)
            self.commits += 1
            self._fault = None
        except _job_faults() as fault:
            batch[0].error = _job_fault(fault)
        except _unavailable_errors() as exc:
            self._drop_writer()
            error = self._lost(exc)
            for job in batch:
                job.error = job.error or error
        except asyncpg.PostgresError as exc:
            # a statement PostgreSQL refused for a reason that is no one job's: none stored
            for job in batch:
                job.error = job.error or StoreUnavailable(f"postgresql commit failed: {exc}")

    async def _commit_merged(self, conn: Conn, batch: list[_Job]) -> bool:
        """A batch of appends as one statement, its own transaction: one round trip and one
        WAL flush for the lot rows, the sale rows, the events and the fence together. False,
        with nothing stored, when it is not all appends, the appends do not chain, or a row
        did not move (a seq, a deadline, a lease) or an event broke a key: then job by job."""
        import asyncpg

        appends = [job.append for job in batch]
        if any(a is None for a in appends):
            return False
        chained = [a for a in appends if a is not None]
        if self._held:
            await self._learn_sales(conn, chained)
        args = self._merged_args(chained)
        if args is None:
            return False
        try:
            await conn.execute(_MERGED, *args)
        except (asyncpg.DivisionByZeroError, asyncpg.IntegrityConstraintViolationError):
            return False
        return True

    async def _commit_others(self, conn: Conn, others: list[_Job]) -> None:
        """Writes that are not appends, after their batch's appends committed: each fault its
        own job's (a lone job's too: it is not the batch's first)."""
        try:
            await self._commit_each(conn, others)
        except _job_faults() as fault:
            others[0].error = _job_fault(fault)
        except _unavailable_errors() as exc:  # the appends are committed: only these failed
            self._drop_writer()
            error = self._lost(exc)
            for job in others:
                job.error = job.error or error

    async def _commit_each(self, conn: Conn, batch: list[_Job]) -> None:
        """The batch in one transaction, the fence checked first, each job in its own
        savepoint so that its fault (SeqConflict, Conflict, LeaseLost, the clock's) is its
        own; a lone job needs none (its fault rolls the transaction back)."""
        async with conn.transaction():
            live = await self._fence(conn, batch)
            if len(live) == 1 and len(batch) == 1:
                await self._run(conn, live[0])
                return
            for job in live:
                try:
                    async with conn.transaction():
                        await self._run(conn, job)
                except _job_faults() as fault:
                    job.error = _job_fault(fault)

    async def _run(self, conn: Conn, job: _Job) -> None:
        if job.append is not None:
            await self._append_one(conn, job.append)
        else:
            assert job.run is not None
            await job.run(conn)

    async def _fence(self, conn: Conn, batch: list[_Job]) -> list[_Job]:
        """The jobs whose sale's lease (if this store holds one) still has its holder and
        epoch, with those lease rows share-locked until the commit; the others fail with
        LeaseLost and store nothing."""
        if not self._held:
            return batch
        appends = [job.append for job in batch if job.append is not None]
        await self._learn_sales(conn, appends)
        sale_of = self._sale_of
        fenced = {sale for a in appends if (sale := sale_of(a)) is not None and sale in self._held}
        if not fenced:
            return batch
        rows = await conn.fetch(
            "SELECT sale_id, holder, epoch FROM leases WHERE sale_id = ANY($1::text[]) FOR SHARE",
            sorted(fenced),
        )
        found = {str(r[0]): (str(r[1]), int(r[2])) for r in rows}
        live = []
        for job in batch:
            sale = sale_of(job.append) if job.append is not None else None
            if sale is not None and sale in fenced and found.get(sale) != self._held.get(sale):
                holder, epoch = self._held[sale]
                now = found.get(sale)
                job.error = LeaseLost(
                    f"sale {sale} is no longer held by {holder} at epoch {epoch}"
                    + (f" (now {now[0]}, epoch {now[1]})" if now else "")
                    + ": nothing was stored"
                )
            else:
                live.append(job)
        return live

    async def _append_one(self, conn: Conn, a: _Append) -> None:
        if a.stream == "sale":
            status = await conn.execute(
                "UPDATE sales SET seq = $3 WHERE id = $1 AND seq = $2",
                a.lot_id,
                a.expected,
                a.last_seq,
            )
            if status != "UPDATE 1":
                raise SeqConflict(f"sale {a.lot_id} is no longer at seq {a.expected}")
        else:
            guard = self.db_clock
            status = await conn.execute(
                _UPDATE_ONE,
                a.lot_id,
                a.expected,
                a.last_seq,
                a.snapshot is not None,
                a.snapshot,
                a.status,
                not isinstance(a.ends_at, _Unchanged),
                None if isinstance(a.ends_at, _Unchanged) else a.ends_at,
                guard and a.before_deadline,
                guard and a.at_deadline,
            )
            if status != "UPDATE 1":
                await self._why_not(conn, a)
        await conn.executemany(_INSERT_ONE, a.rows)

    async def _why_not(self, conn: Conn, a: _Append) -> None:
        """Raise why a lot's state row did not move: its seq, or the database's clock."""
        row = await conn.fetchrow(
            "SELECT seq, ends_at, clock_ms() FROM lot_state WHERE lot_id = $1", a.lot_id
        )
        if row is None or int(row[0]) != a.expected or row[1] is None:
            raise SeqConflict(f"lot {a.lot_id} is no longer at seq {a.expected}")
        ends_at, now = int(row[1]), int(row[2])
        if a.before_deadline and now >= ends_at:
            raise TooLate(
                f"too late: lot {a.lot_id}'s bidding ended at {ends_at}"
                f" by the database's clock (now {now}); nothing was stored"
            )
        raise TooEarly(
            f"lot {a.lot_id}'s deadline is {ends_at} and the database's clock says {now}:"
            " this node's clock runs fast; the close was not stored"
        )

    async def _learn_sales(self, conn: Conn, appends: Sequence[_Append]) -> None:
        """Each appended lot's sale, the fence's key (read once: a lot never changes sale)."""
        unknown = {
            a.lot_id for a in appends if a.stream == "lot" and a.lot_id not in self._lot_sale
        }
        if unknown:
            rows = await conn.fetch(
                "SELECT id, sale_id FROM lots WHERE id = ANY($1::text[])", sorted(unknown)
            )
            self._lot_sale.update((str(r[0]), str(r[1])) for r in rows)

    def _sale_of(self, a: _Append) -> str | None:
        return a.lot_id if a.stream == "sale" else self._lot_sale.get(a.lot_id)

    def _merged_args(self, appends: Sequence[_Append]) -> list[Any] | None:
        """The parameters of ``_MERGED`` for these appends: one move per lot (its first seq to
        its last, its last snapshot, what the clock must find) and per sale, every event, and
        the leases to find unchanged; None if a stream's appends do not chain."""
        lots: dict[str, _Merged] = {}
        sales: dict[str, list[int]] = {}
        fence: dict[str, tuple[str, int]] = {}
        rows: list[tuple[str, str, int, str, int, bytes, bytes | None]] = []
        for a in appends:
            if a.stream == "sale":
                known_sale = sales.get(a.lot_id)
                if known_sale is None:
                    sales[a.lot_id] = [a.expected, a.last_seq]
                elif known_sale[1] != a.expected:
                    return None
                else:
                    known_sale[1] = a.last_seq
            else:
                known = lots.get(a.lot_id)
                if known is None:
                    lots[a.lot_id] = _Merged.start(a, self.db_clock)
                elif not known.then(a, self.db_clock):
                    return None
            if self._held:
                sale = self._sale_of(a)
                if sale is not None and sale in self._held:
                    fence[sale] = self._held[sale]
            rows.extend(a.rows)
        m = list(lots.values())
        ids = list(sales)
        return [
            [x.lot_id for x in m],
            [x.first for x in m],
            [x.last for x in m],
            [x.has_snapshot for x in m],
            [x.snapshot for x in m],
            [x.status for x in m],
            [x.set_ends for x in m],
            [x.ends_at for x in m],
            [x.before_stored for x in m],
            [x.at_stored for x in m],
            [x.before_known for x in m],
            [x.at_known for x in m],
            ids,
            [sales[i][0] for i in ids],
            [sales[i][1] for i in ids],
            *([r[n] for r in rows] for n in range(7)),
            list(fence),
            [holder for holder, _ in fence.values()],
            [epoch for _, epoch in fence.values()],
        ]

    def _submit(self, run: Run, append: _Append | None = None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._writing or self._closing:
            future.set_exception(StoreUnavailable("the store is closed"))
        else:
            self._jobs.put_nowait(_Job(run, future, append))
        return future

    async def _read(self, fn: Callable[[Conn], Awaitable[Any]]) -> Any:
        """``fn`` on a connection of the pool; a connection that broke (a restarted server)
        is replaced and the read tried once more, as reads change nothing."""
        unavailable = _unavailable_errors()
        for attempt in range(2):
            if self._pool is None or self._closing:
                raise StoreUnavailable("the store is closed")
            try:
                async with self._pool.acquire(timeout=CONNECT_TIMEOUT_S) as conn:
                    return await fn(conn)
            except unavailable as exc:
                if attempt == 1:
                    raise self._lost(exc) from None
                await self._pool.expire_connections()
        raise AssertionError("unreachable")

    # -- leases (the fence) and the database's clock ------------------------------------------

    async def acquire_lease(self, sale_id: str, holder: str, ttl_ms: int) -> int | None:
        """Take the sale when its lease is free, expired, or already this holder's, with the
        next epoch (fencing off any earlier incarnation of the holder too); None while
        another holder's lease runs. From then on this store's appends of the sale are
        fenced by that epoch."""
        if ttl_ms <= 0:
            raise ValueError(f"a lease lasts a positive time, not {ttl_ms} ms")

        async def take(conn: Conn) -> int | None:
            epoch = await conn.fetchval(
                "INSERT INTO leases AS l (sale_id, holder, epoch, expires_at)"
                " VALUES ($1, $2, 1, clock_ms() + $3)"
                " ON CONFLICT (sale_id) DO UPDATE SET holder = EXCLUDED.holder,"
                " epoch = l.epoch + 1, expires_at = EXCLUDED.expires_at"
                " WHERE l.expires_at <= clock_ms() OR l.holder = EXCLUDED.holder"
                " RETURNING epoch",
                sale_id,
                holder,
                ttl_ms,
            )
            return None if epoch is None else int(epoch)

        epoch: int | None = await self._read(take)
        if epoch is not None:
            self._held[sale_id] = (holder, epoch)
        return epoch

    async def renew_lease(self, sale_id: str, holder: str, epoch: int, ttl_ms: int) -> bool:
        """Extend the lease while it still has this holder and epoch. False: it was taken;
        the store keeps the epoch, so its appends of the sale are refused (LeaseLost)."""

        async def renew(conn: Conn) -> bool:
            status = await conn.execute(
                "UPDATE leases SET expires_at = clock_ms() + $4"
                " WHERE sale_id = $1 AND holder = $2 AND epoch = $3",
                sale_id,
                holder,
                epoch,
                ttl_ms,
            )
            return bool(status == "UPDATE 1")

        renewed: bool = await self._read(renew)
        return renewed

    async def release_lease(self, sale_id: str, holder: str, epoch: int) -> bool:
        """Let the sale go at once (it expires now; the row and its epoch stay, so the next
        holder's epoch is higher still). This store's appends of the sale are unfenced again."""

        async def release(conn: Conn) -> bool:
            status = await conn.execute(
                "UPDATE leases SET expires_at = clock_ms()"
                " WHERE sale_id = $1 AND holder = $2 AND epoch = $3",
                sale_id,
                holder,
                epoch,
            )
            return bool(status == "UPDATE 1")

        released: bool = await self._read(release)
        if self._held.get(sale_id) == (holder, epoch):
            del self._held[sale_id]
        return released

    async def leases(self) -> list[LeaseRow]:
        async def read(conn: Conn) -> list[LeaseRow]:
            rows = await conn.fetch(
                "SELECT sale_id, holder, epoch, expires_at FROM leases ORDER BY sale_id"
            )
            return [LeaseRow(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

        result: list[LeaseRow] = await self._read(read)
        return result

    async def db_now_ms(self) -> int:
        """The database's clock in ms (``clock_timestamp()``): what a node sets its own by."""

        async def read(conn: Conn) -> int:
            return int(await conn.fetchval("SELECT clock_ms()"))

        now: int = await self._read(read)
        return now

    # -- the contract ----------------------------------------------------------------------

    def append(
        self,
        events: Sequence[LotEvent] | Sequence[SaleEvent],
        request_key: str | None = None,
        snapshot: LotSnapshot | None = None,
    ) -> asyncio.Future[None]:
        first = events[0]
        if isinstance(first, SALE_EVENT_TYPES):
            stream, lot_id = "sale", first.sale
            assert request_key is None and snapshot is None, "a sale has neither"
        else:
            stream, lot_id = "lot", first.lot
        last_seq = events[-1].seq
        assert snapshot is None or snapshot.seq == last_seq, "a snapshot after other events"
        rows = [
            (
                stream,
                lot_id,
                ev.seq,
                str(type(ev).__struct_config__.tag),
                ev.ts,
                msgspec.json.encode(ev),
                request_key.encode() if i == 0 and request_key is not None else None,
            )
            for i, ev in enumerate(events)
        ]
        ends_at: int | _Unchanged | None = UNCHANGED
        before = at = False
        if stream == "lot":
            if snapshot is not None:
                ends_at = snapshot.ends_at
            for ev in events:
                if isinstance(ev, BEFORE_DEADLINE):
                    before = True
                elif isinstance(ev, LotClosed):
                    before = before or ev.reason == "buy_now"
                    at = at or ev.reason in TIMED_CLOSES
                if snapshot is None:
                    if isinstance(ev, LotPaused):
                        ends_at = None  # no deadline runs while paused
                    elif (deadline := getattr(ev, "ends_at", None)) is not None:
                        ends_at = deadline
        append = _Append(
            stream,
            lot_id,
            first.seq - 1,
            last_seq,
            None if snapshot is None else SNAPSHOT_ENCODER.encode(snapshot),
            None if snapshot is None else snapshot.status,
            ends_at,
            before,
            at,
            rows,
        )
        self.appends += 1
        future = self._submit(_never_run, append)
        if stream == "lot" and isinstance(events[-1], LotClosed):
            future.add_done_callback(lambda done: self._after_close(lot_id, done))
        return future

    def _after_close(self, lot_id: str, done: asyncio.Future[None]) -> None:
        """Once a close commits, keep the lot's report facts off the append's path (as
        SqliteStore does): ``_keep_closed`` is the reports' (store/postgres_reports.py)."""
        if done.cancelled() or done.exception() is not None or self._closing:
            return
        task = asyncio.get_running_loop().create_task(self._keep_closed(lot_id))
        self._keeping.add(task)
        task.add_done_callback(self._keeping.discard)

    async def add_sale(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        async def run(conn: Conn) -> None:
            position = await conn.fetchval("SELECT COALESCE(MAX(position), 0) + 1 FROM sales")
            await conn.execute(
                "INSERT INTO sales (id, position, spec) VALUES ($1, $2, $3::jsonb)",
                sale.id,
                position,
                json.dumps(sale_spec_to_record(sale)),
            )
            await _insert_lots(conn, sale.id, lots, first=0)

        try:
            await self._submit(run)
        except Conflict as exc:  # still a Conflict: nodes started at once each add the catalog
            raise Conflict(f"cannot add sale {sale.id}: an id is already taken ({exc})") from None
        self._lot_sale.update((lot.id, sale.id) for lot in lots)

    async def add_lots(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        async def run(conn: Conn) -> None:
            await conn.execute(
                "UPDATE sales SET spec = $2::jsonb WHERE id = $1",
                sale.id,
                json.dumps(sale_spec_to_record(sale)),
            )
            last = await conn.fetchval(
                "SELECT COALESCE(MAX(position), -1) FROM lots WHERE sale_id = $1", sale.id
            )
            await _insert_lots(conn, sale.id, lots, first=int(last) + 1)

        try:
            await self._submit(run)
        except Conflict as exc:
            raise BadRequest(f"cannot add lots to sale {sale.id}: an id is taken ({exc})") from None
        self._lot_sale.update((lot.id, sale.id) for lot in lots)

    async def save_specs(self, sale: SaleSpec | None, lots: Sequence[LotSpec]) -> None:
        async def run(conn: Conn) -> None:
            if sale is not None:
                await conn.execute(
                    "UPDATE sales SET spec = $2::jsonb WHERE id = $1",
                    sale.id,
                    json.dumps(sale_spec_to_record(sale)),
                )
            if lots:
                await conn.executemany(
                    "UPDATE lots SET spec = $2::jsonb WHERE id = $1",
                    [(lot.id, json.dumps(lot_spec_to_record(lot))) for lot in lots],
                )

        await self._submit(run)

    async def listing_entries(
        self, lot_ids: Sequence[str], version: str
    ) -> dict[str, ListingEntry]:
        if not lot_ids:
            return {}

        async def read(conn: Conn) -> dict[str, ListingEntry]:
            rows = await conn.fetch(
                "SELECT lot_id, entry, leader FROM lot_listing"
                " WHERE version = $1 AND lot_id = ANY($2::text[])",
                version,
                list(lot_ids),
            )
            return {str(r[0]): ListingEntry(str(r[0]), version, bytes(r[1]), r[2]) for r in rows}

        result: dict[str, ListingEntry] = await self._read(read)
        return result

    async def save_listing_entries(self, entries: Sequence[ListingEntry]) -> None:
        rows = [(e.lot_id, e.version, e.entry, e.leader) for e in entries]
        if not rows:
            return

        async def run(conn: Conn) -> None:
            await conn.executemany(
                "INSERT INTO lot_listing (lot_id, version, entry, leader) VALUES ($1,$2,$3,$4)"
                " ON CONFLICT (lot_id) DO UPDATE SET version = EXCLUDED.version,"
                " entry = EXCLUDED.entry, leader = EXCLUDED.leader",
                rows,
            )

        await self._submit(run)

    async def catalog(self, *, closed: bool = True) -> tuple[list[SaleSpec], list[CatalogLot]]:
        lots_sql = (
            "SELECT l.sale_id, l.spec::text FROM lots l JOIN sales s ON s.id = l.sale_id"
            " ORDER BY s.position, l.position"
            if closed
            else "SELECT l.sale_id, l.spec::text FROM lots l JOIN sales s ON s.id = l.sale_id"
            " JOIN lot_state t ON t.lot_id = l.id WHERE t.status != 'closed'"
            " ORDER BY s.position, l.position"
        )

        async def read(conn: Conn) -> tuple[list[SaleSpec], list[CatalogLot]]:
            async with conn.transaction(readonly=True, isolation="repeatable_read"):
                sale_rows = await conn.fetch("SELECT spec::text FROM sales ORDER BY position")
                lot_rows = await conn.fetch(lots_sql)
            sales = [sale_spec_from_record(json.loads(r[0])) for r in sale_rows]
            modes = {sale.id: sale.mode for sale in sales}
            lots = [
                CatalogLot(lot_spec_from_record(json.loads(spec)), sale_id, modes[sale_id])
                for sale_id, spec in lot_rows
            ]
            return sales, lots

        result: tuple[list[SaleSpec], list[CatalogLot]] = await self._read(read)
        self._lot_sale.update((lot.spec.id, lot.sale) for lot in result[1])
        return result

    async def catalog_lots(self, lot_ids: Sequence[str]) -> list[CatalogLot]:
        if not lot_ids:
            return []

        async def read(conn: Conn) -> list[CatalogLot]:
            rows = await conn.fetch(
                "SELECT l.id, l.sale_id, l.spec::text, s.spec ->> 'mode' FROM lots l"
                " JOIN sales s ON s.id = l.sale_id WHERE l.id = ANY($1::text[])",
                list(lot_ids),
            )
            found = {
                str(r[0]): CatalogLot(lot_spec_from_record(json.loads(r[2])), str(r[1]), r[3])
                for r in rows
            }
            return [found[lot_id] for lot_id in lot_ids if lot_id in found]

        result: list[CatalogLot] = await self._read(read)
        self._lot_sale.update((lot.spec.id, lot.sale) for lot in result)
        return result

    async def sale_logs(self) -> dict[str, list[SaleEvent]]:
        async def read(conn: Conn) -> dict[str, list[SaleEvent]]:
            logs: dict[str, list[SaleEvent]] = {}
            rows = await conn.fetch(
                "SELECT lot_id, body FROM events WHERE stream = 'sale' ORDER BY lot_id, seq"
            )
            for sale_id, body in rows:
                logs.setdefault(str(sale_id), []).append(SALE_EVENT_DECODER.decode(body))
            return logs

        result: dict[str, list[SaleEvent]] = await self._read(read)
        return result

    async def sale_log(self, sale_id: str) -> list[SaleEvent]:
        async def read(conn: Conn) -> list[SaleEvent]:
            rows = await conn.fetch(
                "SELECT body FROM events WHERE stream = 'sale' AND lot_id = $1 ORDER BY seq",
                sale_id,
            )
            return [SALE_EVENT_DECODER.decode(r[0]) for r in rows]

        result: list[SaleEvent] = await self._read(read)
        return result

    async def lot_logs(self, lot_ids: Sequence[str] | None = None) -> dict[str, LotLog]:
        if lot_ids is not None and not lot_ids:
            return {}

        async def read(conn: Conn) -> dict[str, LotLog]:
            # one snapshot of the database for both reads: a commit between them would
            # otherwise leave a state row and its events disagreeing
            async with conn.transaction(readonly=True, isolation="repeatable_read"):
                if lot_ids is None:
                    states = await conn.fetch("SELECT lot_id, seq, snapshot FROM lot_state")
                else:
                    states = await conn.fetch(
                        "SELECT lot_id, seq, snapshot FROM lot_state"
                        " WHERE lot_id = ANY($1::text[])",
                        list(lot_ids),
                    )
                logs: dict[str, LotLog] = {}
                behind: dict[str, int] = {}
                for lot_id, seq, blob in states:
                    log = _lot_log(blob)
                    logs[str(lot_id)] = log
                    after = log.snapshot.seq if log.snapshot is not None else 0
                    if seq > after:
                        behind[str(lot_id)] = after
                if behind:
                    ids = list(behind)
                    rows = await conn.fetch(
                        "SELECT e.lot_id, e.body FROM events e"
                        " JOIN unnest($1::text[], $2::bigint[]) AS b(lot_id, after)"
                        " ON e.lot_id = b.lot_id"
                        " WHERE e.stream = 'lot' AND e.seq > b.after ORDER BY e.lot_id, e.seq",
                        ids,
                        [behind[i] for i in ids],
                    )
                    for lot_id, body in rows:
                        logs[str(lot_id)].events.append(EVENT_DECODER.decode(body))
            return logs

        result: dict[str, LotLog] = await self._read(read)
        return result

    async def lot_log(self, lot_id: str) -> LotLog:
        async def read(conn: Conn) -> LotLog:
            async with conn.transaction(readonly=True, isolation="repeatable_read"):
                blob = await conn.fetchval(
                    "SELECT snapshot FROM lot_state WHERE lot_id = $1", lot_id
                )
                log = _lot_log(blob)
                after = log.snapshot.seq if log.snapshot is not None else 0
                rows = await conn.fetch(
                    "SELECT body FROM events WHERE stream = 'lot' AND lot_id = $1 AND seq > $2"
                    " ORDER BY seq",
                    lot_id,
                    after,
                )
            log.events = [EVENT_DECODER.decode(r[0]) for r in rows]
            return log

        result: LotLog = await self._read(read)
        return result

    async def save_snapshots(self, lots: Sequence[tuple[str, LotSnapshot]]) -> None:
        rows = [
            (lot_id, s.seq, s.status, SNAPSHOT_ENCODER.encode(s), s.ends_at) for lot_id, s in lots
        ]
        if not rows:
            return

        async def run(conn: Conn) -> None:
            await conn.executemany(
                "UPDATE lot_state SET status = $3, snapshot = $4, ends_at = $5"
                " WHERE lot_id = $1 AND seq = $2",
                rows,
            )

        await self._submit(run)

    async def request_keys_since(self, since_ms: int, limit: int) -> list[tuple[str, KeyedEvent]]:
        async def read(conn: Conn) -> list[tuple[str, KeyedEvent]]:
            rows = await conn.fetch(
                "SELECT request_key, body FROM events"
                " WHERE request_key IS NOT NULL AND ts > $1 ORDER BY ts DESC, seq DESC LIMIT $2",
                since_ms,
                limit,
            )
            keyed = []
            for key, body in rows:
                event = EVENT_DECODER.decode(body)
                if isinstance(event, KEYED_EVENT_TYPES):
                    keyed.append((bytes(key).decode(), event))
            return keyed

        result: list[tuple[str, KeyedEvent]] = await self._read(read)
        return result

    async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
        async def read(conn: Conn) -> list[bytes]:
            rows = await conn.fetch(
                "SELECT body FROM events WHERE stream = 'lot' AND lot_id = $1 AND seq > $2"
                " ORDER BY seq LIMIT $3",
                lot_id,
                since_seq,
                limit,
            )
            return [bytes(r[0]) for r in rows]

        result: list[bytes] = await self._read(read)
        return result

    async def bid_history(self, lot_id: str, before_seq: int | None, limit: int) -> list[bytes]:
        async def read(conn: Conn) -> list[bytes]:
            rows = await conn.fetch(
                "SELECT body FROM events WHERE stream = 'lot' AND lot_id = $1"
                " AND type = 'bid_placed' AND seq < $2 ORDER BY seq DESC LIMIT $3",
                lot_id,
                before_seq if before_seq is not None else 2**62,
                limit,
            )
            return [bytes(r[0]) for r in rows]

        result: list[bytes] = await self._read(read)
        return result

    async def bid_voids(self, lot_id: str) -> list[bytes]:
        async def read(conn: Conn) -> list[bytes]:
            rows = await conn.fetch(
                "SELECT body FROM events WHERE stream = 'lot' AND lot_id = $1"
                " AND type = 'bid_voided' ORDER BY seq",
                lot_id,
            )
            return [bytes(r[0]) for r in rows]

        result: list[bytes] = await self._read(read)
        return result

    async def bid_tallies(self, lot_ids: Sequence[str]) -> dict[str, BidTally]:
        if not lot_ids:
            return {}

        async def read(conn: Conn) -> dict[str, BidTally]:
            # a bid counts unless a bid_voided of its lot lists its seq
            rows = await conn.fetch(
                "WITH voided AS (SELECT v.lot_id, jsonb_array_elements_text("
                "  event_doc(v.body) -> 'voided')::bigint AS seq FROM events v"
                "  WHERE v.stream = 'lot' AND v.lot_id = ANY($1::text[])"
                "  AND v.type = 'bid_voided')"
                " SELECT b.lot_id, COUNT(*), COUNT(DISTINCT event_doc(b.body) ->> 'bidder')"
                " FROM events b WHERE b.stream = 'lot' AND b.type = 'bid_placed'"
                " AND b.lot_id = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM voided x"
                "  WHERE x.lot_id = b.lot_id AND x.seq = b.seq)"
                " GROUP BY b.lot_id",
                list(lot_ids),
            )
            return {str(r[0]): BidTally(int(r[1]), int(r[2])) for r in rows}

        result: dict[str, BidTally] = await self._read(read)
        return result


@dataclass(slots=True)
class _Merged:
    """A lot's appends in one batch, as one move of its state row, with what the database's
    clock must find: checks against the stored deadline (``*_stored``, the first append's) and
    against deadlines the batch's own earlier appends set (``*_known``, known here)."""

    lot_id: str
    first: int
    last: int
    has_snapshot: bool
    snapshot: bytes | None
    status: str | None
    set_ends: bool
    ends_at: int | None
    before_stored: bool = False
    at_stored: bool = False
    before_known: int | None = None
    at_known: int | None = None

    @classmethod
    def start(cls, a: _Append, guard: bool) -> _Merged:
        merged = cls(a.lot_id, a.expected, a.expected, False, None, None, False, None)
        merged.before_stored = guard and a.before_deadline
        merged.at_stored = guard and a.at_deadline
        merged._take(a)
        return merged

    def then(self, a: _Append, guard: bool) -> bool:
        """Take the next append of the lot; False if it does not follow the last."""
        if a.expected != self.last:
            return False
        if guard:
            found_stored = not self.set_ends  # no append before it set a deadline
            if a.before_deadline:
                if found_stored:
                    self.before_stored = True
                elif self.ends_at is not None:
                    known = self.before_known
                    self.before_known = self.ends_at if known is None else min(known, self.ends_at)
            if a.at_deadline:
                if found_stored:
                    self.at_stored = True
                elif self.ends_at is not None:
                    known = self.at_known
                    self.at_known = self.ends_at if known is None else max(known, self.ends_at)
        self._take(a)
        return True

    def _take(self, a: _Append) -> None:
        self.last = a.last_seq
        if a.snapshot is not None:
            self.has_snapshot, self.snapshot, self.status = True, a.snapshot, a.status
        if not isinstance(a.ends_at, _Unchanged):
            self.set_ends, self.ends_at = True, a.ends_at


_UPDATE_ONE = """
UPDATE lot_state SET seq = $3,
    snapshot = CASE WHEN $4::bool THEN $5::bytea ELSE snapshot END,
    status = COALESCE($6::text, status),
    ends_at = CASE WHEN $7::bool THEN $8::bigint ELSE ends_at END
WHERE lot_id = $1 AND seq = $2
    AND (NOT $9::bool OR ends_at IS NULL OR clock_ms() < ends_at)
    AND (NOT $10::bool OR ends_at IS NULL OR clock_ms() >= ends_at)
"""
"""One lot's move from its seq, with the database clock's checks when asked (``$9``: a bid,
before the deadline; ``$10``: a close at it, at or after)."""

_MERGED = """
WITH fence AS (
    SELECT l.sale_id FROM leases l
    JOIN unnest($23::text[], $24::text[], $25::bigint[]) AS f(sale_id, holder, epoch)
        ON l.sale_id = f.sale_id AND l.holder = f.holder AND l.epoch = f.epoch
    FOR SHARE OF l
), now AS (
    SELECT clock_ms() AS ms
), moved AS (
    UPDATE lot_state s SET seq = v.last,
        snapshot = CASE WHEN v.has_snapshot THEN v.snapshot ELSE s.snapshot END,
        status = COALESCE(v.status, s.status),
        ends_at = CASE WHEN v.set_ends THEN v.ends_at ELSE s.ends_at END
    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bool[], $5::bytea[], $6::text[],
            $7::bool[], $8::bigint[], $9::bool[], $10::bool[], $11::bigint[], $12::bigint[])
        AS v(lot_id, first, last, has_snapshot, snapshot, status, set_ends, ends_at,
            before_stored, at_stored, before_known, at_known),
        now
    WHERE s.lot_id = v.lot_id AND s.seq = v.first
        AND (NOT v.before_stored OR s.ends_at IS NULL OR now.ms < s.ends_at)
        AND (NOT v.at_stored OR s.ends_at IS NULL OR now.ms >= s.ends_at)
        AND (v.before_known IS NULL OR now.ms < v.before_known)
        AND (v.at_known IS NULL OR now.ms >= v.at_known)
    RETURNING s.lot_id
), sales_moved AS (
    UPDATE sales s SET seq = v.last
    FROM unnest($13::text[], $14::bigint[], $15::bigint[]) AS v(id, first, last)
    WHERE s.id = v.id AND s.seq = v.first
    RETURNING s.id
), whole AS (
    SELECT (SELECT count(*) FROM moved) = cardinality($1::text[])
        AND (SELECT count(*) FROM sales_moved) = cardinality($13::text[])
        AND (SELECT count(*) FROM fence) = cardinality($23::text[]) AS ok
)
INSERT INTO events (stream, lot_id, seq, type, ts, body, request_key)
SELECT e.* FROM unnest($16::text[], $17::text[], $18::bigint[], $19::text[], $20::bigint[],
        $21::bytea[], $22::bytea[]) AS e, whole
WHERE 1 / CASE WHEN whole.ok THEN 1 ELSE 0 END = 1
"""
"""A whole batch in one statement: each lot moved only from its seq and within its deadlines
by the database's clock, each sale from its seq, the leases held found unchanged (and
share-locked until the commit, so a takeover waits for it), then every event. When a row did
not move the division by zero aborts the statement, and with it everything it changed: the
store then goes job by job to tell each its own fault."""

_INSERT_ONE = (
    "INSERT INTO events (stream, lot_id, seq, type, ts, body, request_key)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


def _job_faults() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (
        SeqConflict,
        LeaseLost,
        TooLate,
        TooEarly,
        asyncpg.IntegrityConstraintViolationError,
        asyncpg.DataError,
    )


def _job_fault(fault: BaseException) -> BaseException:
    """What one job's waiter sees: the store's own refusals as they are, a broken UNIQUE (a
    taken name, a request key used before) as a Conflict, another constraint or bad data as
    bad input; never a driver error."""
    if isinstance(fault, (SeqConflict, LeaseLost, TooLate, TooEarly)):
        return fault
    import asyncpg

    if isinstance(fault, asyncpg.UniqueViolationError):
        return Conflict(f"the store already holds this ({fault})")
    return BadRequest(f"the store refused this ({fault})")


def _resolve(batch: list[_Job]) -> None:
    for job in batch:
        if job.future.done():  # the waiter was cancelled; its write stands
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(None)


async def _never_run(conn: Conn) -> None:
    raise AssertionError("an append runs as data (_Append), not as a function")


def _lot_log(blob: bytes | None) -> LotLog:
    """A lot's stored snapshot; a row whose snapshot is unreadable replays its whole log."""
    if blob is None:
        return LotLog()
    try:
        return decode_snapshot(blob)
    except msgspec.DecodeError:
        return LotLog()


async def _insert_lots(conn: Conn, sale_id: str, lots: Sequence[LotSpec], *, first: int) -> None:
    """Catalogue ``lots`` in ``sale_id`` from position ``first`` on, each scheduled at seq 0."""
    if not lots:
        return
    await conn.executemany(
        "INSERT INTO lots (id, sale_id, position, spec) VALUES ($1, $2, $3, $4::jsonb)",
        [
            (lot.id, sale_id, index, json.dumps(lot_spec_to_record(lot)))
            for index, lot in enumerate(lots, start=first)
        ],
    )
    await conn.executemany(
        "INSERT INTO lot_state (lot_id, seq, status) VALUES ($1, 0, 'scheduled')",
        [(lot.id,) for lot in lots],
    )
