"""The embedded default: SQLite in WAL mode with one writer thread and group commit.

Why a dedicated thread and not aiosqlite: every append waits for its commit, and thousands of
appends a second each paying a thread hop and an fsync would cap throughput near 2,400/s. The
writer thread takes every append queued while the previous commit ran and commits them in one
transaction (one fsync), then wakes all their waiters at once: durability without the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import itertools
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from bidwire.accounts.records import UserRecord, UserRole
from bidwire.domain.events import (
    KEYED_EVENT_TYPES,
    SALE_EVENT_TYPES,
    KeyedEvent,
    LotClosed,
    LotEvent,
    SaleEnded,
    SaleEvent,
    SalePaused,
    SaleStarted,
)
from bidwire.domain.lot import LotSnapshot, LotSpec
from bidwire.domain.names import skeleton
from bidwire.domain.sale import SaleSpec
from bidwire.errors import BadRequest, Conflict, SeqConflict, StoreInUse, StoreUnavailable
from bidwire.store.base import (
    EVENT_DECODER,
    SALE_EVENT_DECODER,
    SNAPSHOT_ENCODER,
    BidderPart,
    BidderTally,
    BidTally,
    CatalogLot,
    ListingEntry,
    LotLog,
    LotRun,
    LotTally,
    LotTerms,
    ReportFacts,
    decode_snapshot,
    lot_spec_from_record,
    lot_spec_to_record,
    sale_spec_from_record,
    sale_spec_to_record,
)
from bidwire.store.sqlite_activity import MIGRATION as ACTIVITY_MIGRATION
from bidwire.store.sqlite_activity import SqliteActivity
from bidwire.store.sqlite_history import SqliteHistory

MAX_BATCH = 2048
"""Appends committed in one transaction at most; bounds a commit's latency under load."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the catalog, the event log and the current state of every lot
    """
    CREATE TABLE sales (
        id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        spec TEXT NOT NULL,
        started_at INTEGER,
        ended_at INTEGER
    );
    CREATE TABLE lots (
        id TEXT PRIMARY KEY,
        sale_id TEXT NOT NULL REFERENCES sales(id),
        position INTEGER NOT NULL,
        spec TEXT NOT NULL
    );
    CREATE TABLE lot_state (
        lot_id TEXT PRIMARY KEY REFERENCES lots(id),
        seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        ends_at INTEGER,
        high_amount INTEGER,
        high_bidder TEXT
    );
    CREATE TABLE events (
        lot_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        ts INTEGER NOT NULL,
        body BLOB NOT NULL,
        request_key TEXT,
        PRIMARY KEY (lot_id, seq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX events_request_key ON events(request_key)
        WHERE request_key IS NOT NULL;
    """,
    # 2: accounts, their tokens (hashed) and the audit log of admin changes
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        blocked INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        expires_at INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX tokens_user ON tokens(user_id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    """,
    # 3: a sale can be paused by an admin
    """
    ALTER TABLE sales ADD COLUMN paused_at INTEGER;
    """,
    # 4: each username's skeleton (domain/names.py), so look-alike names find their account
    """
    ALTER TABLE users ADD COLUMN name_skeleton TEXT;
    CREATE INDEX users_name_skeleton ON users(name_skeleton);
    """,
    # 5: the current-state row is each lot's snapshot (domain/lot.py: LotSnapshot, msgpack)
    # as of the seq it names, so a start replays only what came after it; a lot migrated
    # without one replays its whole log until its next append. The columns it replaces were
    # never read. Recent request keys are found by time, not by a scan of the log.
    """
    ALTER TABLE lot_state ADD COLUMN snapshot BLOB;
    ALTER TABLE lot_state DROP COLUMN ends_at;
    ALTER TABLE lot_state DROP COLUMN high_amount;
    ALTER TABLE lot_state DROP COLUMN high_bidder;
    CREATE INDEX events_keyed_ts ON events(ts) WHERE request_key IS NOT NULL;
    """,
    # 6: sale events in the log, one stream per sale beside each lot's: ``stream`` is 'lot'
    # or 'sale' and ``lot_id`` the stream's id (a sale and a lot may share an id, so the id
    # alone cannot tell them apart). A sale's row keeps its ``seq`` for the append's check.
    # The older marks become each sale's first events (``_marks_to_sale_events``).
    """
    CREATE TABLE events_by_stream (
        stream TEXT NOT NULL DEFAULT 'lot',
        lot_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        ts INTEGER NOT NULL,
        body BLOB NOT NULL,
        request_key TEXT,
        PRIMARY KEY (stream, lot_id, seq)
    ) WITHOUT ROWID;
    INSERT INTO events_by_stream (lot_id, seq, type, ts, body, request_key)
        SELECT lot_id, seq, type, ts, body, request_key FROM events;
    DROP TABLE events;
    ALTER TABLE events_by_stream RENAME TO events;
    CREATE UNIQUE INDEX events_request_key ON events(request_key)
        WHERE request_key IS NOT NULL;
    CREATE INDEX events_keyed_ts ON events(ts) WHERE request_key IS NOT NULL;
    ALTER TABLE sales ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: the marks live on as events (6); their columns go
    """
    ALTER TABLE sales DROP COLUMN started_at;
    ALTER TABLE sales DROP COLUMN ended_at;
    ALTER TABLE sales DROP COLUMN paused_at;
    """,
    # 8: a close at the deadline is the ``hammer`` (the wire's reason), not ``ended``
    """
    UPDATE events SET body = CAST(json_set(CAST(body AS TEXT), '$.reason', 'hammer') AS BLOB)
        WHERE stream = 'lot' AND type = 'lot_closed'
        AND json_extract(CAST(body AS TEXT), '$.reason') = 'ended';
    """,
    # 9: guest sessions that have bid (engine/gate.py), so a guest's name stays its own
    # across a restart: the token's SHA-256 (never the token), the name, the last use
    """
    CREATE TABLE IF NOT EXISTS guest_sessions (
        token_hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        last_seen INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS guest_sessions_seen ON guest_sessions(last_seen);
    """,
    # 10: each closed lot's public listing entry (engine/queries.py), so a listing of many
    # closed lots reads one small row each instead of rebuilding every lot from its log; an
    # entry of an older shape is made again when read
    """
    CREATE TABLE IF NOT EXISTS lot_listing (
        lot_id TEXT PRIMARY KEY REFERENCES lots(id),
        version TEXT NOT NULL,
        entry BLOB NOT NULL,
        leader TEXT
    ) WITHOUT ROWID;
    """,
    # 11: a person's bids and wins by index, watch lists and inboxes (store/sqlite_activity.py)
    ACTIVITY_MIGRATION,
    # 12 (package B, figures): a closed lot's report facts, kept from their first read on
    # (its facts never change after the close), so reports across many sales aggregate a row
    # per lot and per (lot, bidder) instead of every bid; ``version`` is REPORT_FACTS_VERSION,
    # and a row of another is made again when read
    """
    CREATE TABLE IF NOT EXISTS report_lots (
        lot_id TEXT PRIMARY KEY REFERENCES lots(id),
        version INTEGER NOT NULL,
        outcome TEXT,
        reason TEXT,
        winner TEXT,
        amount INTEGER,
        extensions INTEGER NOT NULL,
        opened_at INTEGER,
        closed_at INTEGER,
        bids INTEGER NOT NULL,
        auto INTEGER NOT NULL,
        late INTEGER NOT NULL,
        extend INTEGER NOT NULL,
        bidders INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS report_bidders (
        lot_id TEXT NOT NULL REFERENCES lots(id),
        bidder TEXT NOT NULL,
        bids INTEGER NOT NULL,
        auto INTEGER NOT NULL,
        late INTEGER NOT NULL,
        extend INTEGER NOT NULL,
        best INTEGER NOT NULL,
        PRIMARY KEY (lot_id, bidder)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS report_sale_bidders (
        sale_id TEXT NOT NULL REFERENCES sales(id),
        bidder TEXT NOT NULL,
        PRIMARY KEY (sale_id, bidder)
    ) WITHOUT ROWID;
    """,
)


def _marks_to_sale_events(conn: sqlite3.Connection) -> None:
    """A sale's marks (started, paused, ended) as its first events, once: who paused it and
    whether it was cancelled come from the audit log, which has kept both."""

    def audited(action: str, sale_id: str) -> str | None:
        row = conn.execute(
            "SELECT actor FROM audit WHERE action = ? AND detail = ? ORDER BY id DESC LIMIT 1",
            (action, sale_id),
        ).fetchone()
        return None if row is None else str(row[0])

    marked = conn.execute(
        "SELECT id, spec, started_at, paused_at, ended_at FROM sales"
        " WHERE started_at IS NOT NULL OR ended_at IS NOT NULL"
    ).fetchall()
    for sale_id, spec_json, started_at, paused_at, ended_at in marked:
        spec = sale_spec_from_record(json.loads(spec_json))
        events: list[SaleEvent] = []
        if started_at is not None:
            lots = list(spec.lot_ids)
            events.append(SaleStarted(sale_id, 1, spec.title, spec.mode, lots, started_at))
        if paused_at is not None:
            by = audited("pause-sale", sale_id) or "unknown"
            events.append(SalePaused(sale_id, len(events) + 1, by, paused_at))
        if ended_at is not None:
            reason = "cancelled" if audited("cancel-sale", sale_id) else "done"
            events.append(SaleEnded(sale_id, len(events) + 1, ended_at, reason))
        conn.executemany(
            "INSERT INTO events (stream, lot_id, seq, type, ts, body) VALUES ('sale',?,?,?,?,?)",
            [
                (e.sale, e.seq, e.__struct_config__.tag, e.ts, msgspec.json.encode(e))
                for e in events
            ],
        )
        conn.execute("UPDATE sales SET seq = ? WHERE id = ?", (len(events), sale_id))


AFTER_MIGRATION: dict[int, Callable[[sqlite3.Connection], None]] = {6: _marks_to_sale_events}
"""Steps in Python, run in the transaction of the migration they follow."""


def sqlite_path(url: str) -> str:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    prefix = "sqlite:///"
    path = url[len(prefix) :].split("?", 1)[0] if url.startswith(prefix) else ""
    if not path:
        raise ValueError(f"no file path in {url!r}: use sqlite:///bidwire.db")
    return path


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"bad synchronous mode {synchronous!r}")
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


WAL_PRESIZE_BYTES = 4_600_000
"""A little more than the WAL at its default autocheckpoint (1,000 pages of 4 KiB + headers)."""


def presize_wal(conn: sqlite3.Connection, path: str) -> None:
    """Grow a fresh WAL file to its working size once, at start, then restart it.

    Why: while the WAL file grows, every commit's fsync must also journal the new file size,
    and on this machine's ext4 that made one commit in ten take ~4 ms instead of ~0.3 ms
    (measured: p90 1.3-2.4 ms growing vs 0.5 ms pre-sized, 50 commits/s). After a checkpoint
    SQLite writes the WAL from its start again without shrinking it (no journal_size_limit),
    so a pre-sized WAL never grows in steady state. The padding table is dropped at once;
    its pages go to the free list and are reused by the event log.
    """
    if path == ":memory:":
        return
    wal = Path(path + "-wal")
    if wal.exists() and wal.stat().st_size >= WAL_PRESIZE_BYTES:
        return
    blob = bytes(4000)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE IF NOT EXISTS _wal_presize (pad BLOB)")
    conn.executemany(
        "INSERT INTO _wal_presize VALUES (?)",
        ((blob,) for _ in range(WAL_PRESIZE_BYTES // 4096 + 1)),
    )
    conn.execute("COMMIT")
    conn.execute("DROP TABLE _wal_presize")
    conn.execute("PRAGMA wal_checkpoint(RESTART)")


def migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            step = AFTER_MIGRATION.get(number)
            if step is not None:
                step(conn)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if version < 4 <= len(MIGRATIONS):
        # skeletons are Unicode rules, not SQL: the accounts made before them get theirs here
        rows = conn.execute("SELECT id, username FROM users WHERE name_skeleton IS NULL")
        conn.executemany(
            "UPDATE users SET name_skeleton = ? WHERE id = ?",
            [(skeleton(name), user_id) for user_id, name in rows.fetchall()],
        )


def lock_store(path: str) -> int:
    """Take the store for this process: an exclusive flock on ``PATH.lock``, held until closed.

    Why a sidecar file and not the database itself: SQLite drops its own POSIX locks on a file
    whenever any descriptor of that file in the process is closed, and flock on a file SQLite
    never opens cannot interfere with them. The lock file stays behind on purpose (unlinking a
    lock file lets a third process lock a fresh inode while a second still waits on the old).
    """
    lock_path = path + ".lock"
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreInUse(
            f"the store {os.path.abspath(path)} is in use by another bidwire server (pid {holder})"
        ) from None
    with contextlib.suppress(OSError):  # the pid only informs; a full disk is told later
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


FileIdentity = tuple[int, int]


def file_identity(path: str) -> FileIdentity | None:
    """(st_dev, st_ino) of what is at ``path`` now, None if nothing is."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@dataclass(slots=True)
class _Append:
    """An append as data, so that a run of them can be committed with a few statements."""

    stream: str
    """'lot' or 'sale'."""
    lot_id: str
    """The stream's id: a lot's, or a sale's."""
    expected: int
    last_seq: int
    snapshot: LotSnapshot | None
    """Encoded by the writer, and in a merged commit only the lot's last one."""
    rows: list[tuple[Any, ...]]


@dataclass(slots=True)
class _Job:
    run: Callable[[sqlite3.Connection], None]
    future: asyncio.Future[None]
    error: BaseException | None = field(default=None)
    append: _Append | None = field(default=None)


INSERT_ROWS = 4_000
"""Event rows per multi-row INSERT: 7 parameters each stays under SQLite's 32,766."""

INSERT_EVENTS = "INSERT INTO events (stream, lot_id, seq, type, ts, body, request_key) VALUES "


def _update_state(
    conn: sqlite3.Connection,
    stream: str,
    lot_id: str,
    seq: int,
    new_seq: int,
    snapshot: LotSnapshot | None,
) -> bool:
    """Move a stream's state row (a lot's, with its snapshot in the same one statement, or a
    sale's) on from ``seq``; False if it is no longer there."""
    if stream == "sale":
        cur = conn.execute(
            "UPDATE sales SET seq = ? WHERE id = ? AND seq = ?", (new_seq, lot_id, seq)
        )
    elif snapshot is None:
        cur = conn.execute(
            "UPDATE lot_state SET seq = ? WHERE lot_id = ? AND seq = ?", (new_seq, lot_id, seq)
        )
    else:
        cur = conn.execute(
            "UPDATE lot_state SET seq = ?, status = ?, snapshot = ? WHERE lot_id = ? AND seq = ?",
            (new_seq, snapshot.status, SNAPSHOT_ENCODER.encode(snapshot), lot_id, seq),
        )
    return cur.rowcount == 1


def _merged_appends(conn: sqlite3.Connection, jobs: list[_Job]) -> bool:
    """Commit a batch of appends with one UPDATE per lot and one INSERT per 4,000 events.

    Why: each ``execute`` releases the GIL and must take it back; while the event loop is busy
    that costs up to the switch interval, so four statements per bid capped a one-lot
    contention run near 9,000 bids/s at 100 ms a commit. Returns False (nothing written: the
    caller rolls back to its savepoint and commits the jobs one by one, as before) when the
    appends do not chain (a seq gap), or a statement finds a conflict or a duplicate key.
    """
    per_stream: dict[tuple[str, str], tuple[int, int, LotSnapshot | None]] = {}
    rows: list[Any] = []
    for job in jobs:
        a = job.append
        assert a is not None
        known = per_stream.get((a.stream, a.lot_id))
        if known is None:
            per_stream[a.stream, a.lot_id] = (a.expected, a.last_seq, a.snapshot)
        else:
            first, last, snapshot = known
            if a.expected != last:
                return False
            per_stream[a.stream, a.lot_id] = (first, a.last_seq, a.snapshot or snapshot)
        for row in a.rows:
            rows.extend(row)
    for (stream, lot_id), (first, last, snapshot) in per_stream.items():
        if not _update_state(conn, stream, lot_id, first, last, snapshot):
            return False
    width = 7
    step = INSERT_ROWS * width
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        values = ",".join(["(?,?,?,?,?,?,?)"] * (len(chunk) // width))
        conn.execute(INSERT_EVENTS + values, chunk)
    return True


class SqliteAccounts:
    """The account tables of a SqliteStore (mixin: writes go through the same writer)."""

    _USER_COLUMNS = "id, username, role, password_hash, blocked, created_at"

    def _submit(self, run: Callable[[sqlite3.Connection], None]) -> asyncio.Future[None]:
        raise NotImplementedError

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        raise NotImplementedError

    @staticmethod
    def _user(row: Any) -> UserRecord | None:
        if row is None:
            return None
        return UserRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    async def create_user(
        self, username: str, role: UserRole, password_hash: str, now_ms: int
    ) -> UserRecord:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO users (username, role, password_hash, created_at, name_skeleton)"
                " VALUES (?,?,?,?,?)",
                (username, role, password_hash, now_ms, skeleton(username)),
            )

        await self._submit(run)  # a taken name fails the UNIQUE constraint: Conflict
        user = await self.get_user(username)
        assert user is not None
        return user

    async def get_user(self, username: str) -> UserRecord | None:
        def read(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                f"SELECT {self._USER_COLUMNS} FROM users WHERE username = ?", (username,)
            ).fetchone()
            return self._user(row)

        result: UserRecord | None = await self._read(read)
        return result

    async def user_like(self, name: str) -> UserRecord | None:
        def read(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                f"SELECT {self._USER_COLUMNS} FROM users WHERE name_skeleton = ? LIMIT 1",
                (skeleton(name),),
            ).fetchone()
            return self._user(row)

        result: UserRecord | None = await self._read(read)
        return result

    async def list_users(self) -> list[UserRecord]:
        def read(conn: sqlite3.Connection) -> list[UserRecord]:
            rows = conn.execute(f"SELECT {self._USER_COLUMNS} FROM users ORDER BY id")
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
        changes = {"blocked": blocked, "role": role, "password_hash": password_hash}
        cols = {k: v for k, v in changes.items() if v is not None}
        if not cols:
            return
        assignments = ", ".join(f"{k} = ?" for k in cols)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*cols.values(), user_id))

        await self._submit(run)

    async def add_token(self, token_hash: str, user_id: int, expires_at: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
                (token_hash, user_id, expires_at),
            )

        await self._submit(run)

    async def token_user(self, token_hash: str, now_ms: int) -> UserRecord | None:
        cols = ", ".join(f"u.{c.strip()}" for c in self._USER_COLUMNS.split(","))

        def read(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                f"SELECT {cols} FROM tokens t JOIN users u ON u.id = t.user_id"
                " WHERE t.token_hash = ? AND t.revoked = 0 AND t.expires_at > ?",
                (token_hash, now_ms),
            ).fetchone()
            return self._user(row)

        result: UserRecord | None = await self._read(read)
        return result

    async def revoke_token(self, token_hash: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE tokens SET revoked = 1 WHERE token_hash = ?", (token_hash,))

        await self._submit(run)

    async def revoke_user_tokens(self, user_id: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE tokens SET revoked = 1 WHERE user_id = ?", (user_id,))

        await self._submit(run)

    async def audit(self, actor: str, action: str, detail: str, now_ms: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO audit (ts, actor, action, detail) VALUES (?, ?, ?, ?)",
                (now_ms, actor, action, detail),
            )

        await self._submit(run)

    async def audit_log(self, limit: int) -> list[tuple[int, str, str, str]]:
        def read(conn: sqlite3.Connection) -> list[tuple[int, str, str, str]]:
            rows = conn.execute(
                "SELECT ts, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            )
            return [tuple(row) for row in rows]

        result: list[tuple[int, str, str, str]] = await self._read(read)
        return result

    async def save_guest(self, token_hash: str, name: str, last_seen: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO guest_sessions (token_hash, name, last_seen) VALUES (?, ?, ?)"
                " ON CONFLICT (token_hash) DO UPDATE SET name = excluded.name,"
                " last_seen = MAX(last_seen, excluded.last_seen)",
                (token_hash, name, last_seen),
            )

        await self._submit(run)

    async def drop_guest(self, token_hash: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM guest_sessions WHERE token_hash = ?", (token_hash,))

        await self._submit(run)

    async def kept_guests(self, since_ms: int, limit: int) -> list[tuple[str, str, int]]:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM guest_sessions WHERE last_seen < ? OR token_hash NOT IN"
                " (SELECT token_hash FROM guest_sessions ORDER BY last_seen DESC LIMIT ?)",
                (since_ms, limit),
            )

        def read(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            rows = conn.execute("SELECT token_hash, name, last_seen FROM guest_sessions")
            return [(str(h), str(name), int(seen)) for h, name, seen in rows]

        await self._submit(run)
        result: list[tuple[str, str, int]] = await self._read(read)
        return result


class SqliteStore(SqliteAccounts, SqliteActivity, SqliteHistory):
    def __init__(self, path: str, *, synchronous: str = "FULL", exclusive: bool = False) -> None:
        self.path = path
        self.synchronous = synchronous
        self.exclusive = exclusive
        """Refuse to open a store another exclusive opener (a server) holds; admin tools that
        write a row and leave share it, as SQLite allows."""
        self._lock_fd: int | None = None
        self._opened: list[tuple[str, FileIdentity]] = []
        """The database and WAL files as opened: a commit into files no longer at their paths
        (deleted, or replaced) would be acknowledged and then lost."""
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self.commits = 0
        """Transactions committed; with ``appends`` it shows the group-commit batch size."""
        self.appends = 0
        self._closing = False
        self._writing = False
        """The writer thread runs (a flag, not ``Thread.is_alive``: that costs a lock per bid)."""
        self._keeping: set[asyncio.Task[None]] = set()
        """Closed lots' report facts being counted and kept, after their close commits."""

    async def __aenter__(self) -> SqliteStore:
        self._loop = asyncio.get_running_loop()
        if self.exclusive and self.path != ":memory:":
            self._lock_fd = lock_store(self.path)
        try:
            writer = await asyncio.to_thread(self._open_writer)
        except BaseException:
            self._unlock()
            raise
        self._thread = threading.Thread(
            target=self._write_loop, args=(writer,), name="bidwire-sqlite-writer", daemon=True
        )
        self._writing = True
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in list(self._keeping):
            task.cancel()
        await asyncio.gather(*self._keeping, return_exceptions=True)
        if self._thread is not None:
            self._closing = True
            self._jobs.put(None)  # after every queued job: in-flight appends still commit
            await asyncio.to_thread(self._thread.join)
        if self._reader is not None:
            # under the lock: closing a connection while a read runs on it in a worker thread
            # crashed the process (seen: SIGSEGV, a reload racing the close at shutdown)
            with self._reader_lock:
                self._reader.close()
                self._reader = None
        self._unlock()

    def _open_writer(self) -> sqlite3.Connection:
        """Connect, migrate and pre-size; a full disk or a broken file is one clear
        StoreUnavailable, with nothing left open."""
        writer: sqlite3.Connection | None = None
        try:
            writer = connect(self.path, self.synchronous)
            migrate(writer)
            if self.synchronous.upper() in ("FULL", "EXTRA"):  # fsync per commit: worth it
                presize_wal(writer, self.path)
            self._reader = connect(self.path, "NORMAL")
        except sqlite3.Error as exc:
            if writer is not None:
                writer.close()
            raise StoreUnavailable(
                f"cannot open the store {os.path.abspath(self.path)}: {exc}"
            ) from None
        if self.path != ":memory:":
            for name in (self.path, self.path + "-wal"):
                identity = file_identity(name)
                if identity is not None:
                    self._opened.append((name, identity))
        return writer

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def fault(self) -> str | None:
        """Why no commit can succeed now, found cheaply (two stats), or None."""
        if not self._writing or self._closing:
            return "the store is closed"
        return self._gone()

    def _gone(self) -> str | None:
        for name, identity in self._opened:
            if file_identity(name) != identity:
                return (
                    f"the store file {os.path.abspath(name)} is gone (deleted or replaced"
                    " while the server ran): nothing can be stored; restore it or restart"
                )
        return None

    # -- the writer thread -------------------------------------------------------------------

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._jobs.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                self._commit(conn, batch)
        finally:
            self._writing = False
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        gone = self._gone()  # once per commit, never per append
        try:
            if gone is not None:
                raise StoreUnavailable(gone)
            conn.execute("BEGIN IMMEDIATE")
            if len(batch) == 1:
                self._commit_alone(conn, batch[0])
            else:
                self._commit_together(conn, batch)
        except (sqlite3.Error, StoreUnavailable) as exc:
            if conn.in_transaction:
                # SQLite may have rolled back itself (a full disk): the writer must live on
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            fault = exc if isinstance(exc, StoreUnavailable) else None
            for job in batch:
                job.error = fault or StoreUnavailable(f"sqlite commit failed: {exc}")
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, batch)

    def _commit_alone(self, conn: sqlite3.Connection, job: _Job) -> None:
        """The usual case below saturation: no savepoints, since no batch-mate can be spoiled
        (each statement costs a GIL round trip; bench/README.md)."""
        try:
            job.run(conn)
        except (SeqConflict, sqlite3.IntegrityError) as fault:
            conn.execute("ROLLBACK")
            job.error = _job_fault(fault)
            return
        conn.execute("COMMIT")
        self.commits += 1

    def _commit_together(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        separately = batch
        if all(job.append is not None for job in batch):
            conn.execute("SAVEPOINT merged")
            try:
                merged = _merged_appends(conn, batch)
            except (sqlite3.IntegrityError, sqlite3.OperationalError):
                merged = False
            if not merged:
                conn.execute("ROLLBACK TO merged")
            conn.execute("RELEASE merged")
            if merged:
                separately = []
        for job in separately:
            # each job in its own savepoint: one job's fault never spoils its batch-mates
            conn.execute("SAVEPOINT job")
            try:
                job.run(conn)
            except (SeqConflict, sqlite3.IntegrityError) as fault:
                conn.execute("ROLLBACK TO job")
                job.error = _job_fault(fault)
            conn.execute("RELEASE job")
        conn.execute("COMMIT")
        self.commits += 1

    def _submit(
        self, run: Callable[[sqlite3.Connection], None], append: _Append | None = None
    ) -> asyncio.Future[None]:
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        if not self._writing or self._closing:
            future.set_exception(StoreUnavailable("the store is closed"))
        else:
            self._jobs.put(_Job(run, future, append=append))
        return future

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def locked() -> Any:
            with self._reader_lock:
                if self._reader is None:
                    raise StoreUnavailable("the store is closed")
                return fn(self._reader)

        return await asyncio.to_thread(locked)

    # -- the contract ------------------------------------------------------------------------

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
        expected = first.seq - 1
        last_seq = events[-1].seq
        assert snapshot is None or snapshot.seq == last_seq, "a snapshot after other events"
        keyed_rows = [
            (
                stream,
                lot_id,
                ev.seq,
                type(ev).__struct_config__.tag,
                ev.ts,
                msgspec.json.encode(ev),
                request_key if i == 0 else None,
            )
            for i, ev in enumerate(events)
        ]

        def run(conn: sqlite3.Connection) -> None:
            if not _update_state(conn, stream, lot_id, expected, last_seq, snapshot):
                raise SeqConflict(f"{stream} {lot_id} is no longer at seq {expected}")
            conn.executemany(INSERT_EVENTS + "(?, ?, ?, ?, ?, ?, ?)", keyed_rows)

        self.appends += 1
        append = _Append(stream, lot_id, expected, last_seq, snapshot, keyed_rows)
        future = self._submit(run, append)
        if stream == "lot" and isinstance(events[-1], LotClosed):
            future.add_done_callback(lambda done: self._keep_after_close(lot_id, done))
        return future

    def _keep_after_close(self, lot_id: str, done: asyncio.Future[None]) -> None:
        """Once a close commits, count and keep the lot's report facts, off the append's
        path (a read, then one small write), so no report has to count a closed lot."""
        if done.cancelled() or done.exception() is not None or self._closing:
            return
        self._keep_in_background(self._keep_closed(lot_id))

    def _keep_in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._keeping.add(task)
        task.add_done_callback(self._keeping.discard)

    async def _keep_closed(self, lot_id: str) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self.report_facts([lot_id], bidders=False)

    async def add_sale(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            position = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM sales").fetchone()
            conn.execute(
                "INSERT INTO sales (id, position, spec) VALUES (?, ?, ?)",
                (sale.id, position[0], json.dumps(sale_spec_to_record(sale))),
            )
            _insert_lots(conn, sale.id, lots, first=0)

        try:
            await self._submit(run)
        except ValueError as exc:
            # A UNIQUE constraint: an id is taken. A failed commit stays StoreUnavailable.
            raise BadRequest(f"cannot add sale {sale.id}: an id is already taken ({exc})") from None

    async def add_lots(self, sale: SaleSpec, lots: Sequence[LotSpec]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE sales SET spec = ? WHERE id = ?",
                (json.dumps(sale_spec_to_record(sale)), sale.id),
            )
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(position), -1) FROM lots WHERE sale_id = ?", (sale.id,)
            ).fetchone()
            _insert_lots(conn, sale.id, lots, first=last + 1)

        try:
            await self._submit(run)
        except ValueError as exc:
            raise BadRequest(f"cannot add lots to sale {sale.id}: an id is taken ({exc})") from None

    async def save_specs(self, sale: SaleSpec | None, lots: Sequence[LotSpec]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            if sale is not None:
                conn.execute(
                    "UPDATE sales SET spec = ? WHERE id = ?",
                    (json.dumps(sale_spec_to_record(sale)), sale.id),
                )
            for lot in lots:
                conn.execute(
                    "UPDATE lots SET spec = ? WHERE id = ?",
                    (json.dumps(lot_spec_to_record(lot)), lot.id),
                )

        await self._submit(run)

    async def listing_entries(
        self, lot_ids: Sequence[str], version: str
    ) -> dict[str, ListingEntry]:
        def read(conn: sqlite3.Connection) -> dict[str, ListingEntry]:
            found: dict[str, ListingEntry] = {}
            for chunk in _chunks(lot_ids):
                cur = conn.execute(
                    "SELECT lot_id, entry, leader FROM lot_listing"
                    f" WHERE version = ? AND lot_id IN ({_marks(chunk)})",
                    (version, *chunk),
                )
                for lot_id, entry, leader in cur.fetchall():
                    found[lot_id] = ListingEntry(lot_id, version, bytes(entry), leader)
            return found

        result: dict[str, ListingEntry] = await self._read(read)
        return result

    async def save_listing_entries(self, entries: Sequence[ListingEntry]) -> None:
        rows = [(e.lot_id, e.version, e.entry, e.leader) for e in entries]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO lot_listing (lot_id, version, entry, leader) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (lot_id) DO UPDATE SET version = excluded.version,"
                " entry = excluded.entry, leader = excluded.leader",
                rows,
            )

        await self._submit(run)

    async def catalog(self, *, closed: bool = True) -> tuple[list[SaleSpec], list[CatalogLot]]:
        lots_sql = (
            "SELECT sale_id, spec FROM lots ORDER BY sale_id, position"
            if closed
            else "SELECT l.sale_id, l.spec FROM lots l JOIN lot_state s ON s.lot_id = l.id"
            " WHERE s.status != 'closed' ORDER BY l.sale_id, l.position"
        )

        def read(conn: sqlite3.Connection) -> tuple[list[SaleSpec], list[CatalogLot]]:
            sales = [
                sale_spec_from_record(json.loads(spec))
                for (spec,) in conn.execute("SELECT spec FROM sales ORDER BY position")
            ]
            modes = {sale.id: sale.mode for sale in sales}
            lots = [
                CatalogLot(lot_spec_from_record(json.loads(spec)), sale_id, modes[sale_id])
                for sale_id, spec in conn.execute(lots_sql)
            ]
            return sales, lots

        result: tuple[list[SaleSpec], list[CatalogLot]] = await self._read(read)
        return result

    async def catalog_lots(self, lot_ids: Sequence[str]) -> list[CatalogLot]:
        def read(conn: sqlite3.Connection) -> list[CatalogLot]:
            found: dict[str, CatalogLot] = {}
            modes: dict[str, Any] = {}
            for chunk in _chunks(lot_ids):
                cur = conn.execute(
                    f"SELECT id, sale_id, spec FROM lots WHERE id IN ({_marks(chunk)})", chunk
                )
                for lot_id, sale_id, spec in cur.fetchall():
                    if sale_id not in modes:  # once a sale: its spec lists all its lots
                        (sale_spec,) = conn.execute(
                            "SELECT spec FROM sales WHERE id = ?", (sale_id,)
                        ).fetchone()
                        modes[sale_id] = msgspec.json.decode(sale_spec)["mode"]
                    spec = lot_spec_from_record(msgspec.json.decode(spec))
                    found[lot_id] = CatalogLot(spec, sale_id, modes[sale_id])
            return [found[lot_id] for lot_id in lot_ids if lot_id in found]

        result: list[CatalogLot] = await self._read(read)
        return result

    async def sale_logs(self) -> dict[str, list[SaleEvent]]:
        def read(conn: sqlite3.Connection) -> dict[str, list[SaleEvent]]:
            logs: dict[str, list[SaleEvent]] = {}
            cur = conn.execute(
                "SELECT lot_id, body FROM events WHERE stream = 'sale' ORDER BY lot_id, seq"
            )
            for sale_id, body in cur:
                logs.setdefault(sale_id, []).append(SALE_EVENT_DECODER.decode(body))
            return logs

        result: dict[str, list[SaleEvent]] = await self._read(read)
        return result

    async def sale_log(self, sale_id: str) -> list[SaleEvent]:
        def read(conn: sqlite3.Connection) -> list[SaleEvent]:
            cur = conn.execute(
                "SELECT body FROM events WHERE stream = 'sale' AND lot_id = ? ORDER BY seq",
                (sale_id,),
            )
            return [SALE_EVENT_DECODER.decode(body) for (body,) in cur]

        result: list[SaleEvent] = await self._read(read)
        return result

    async def lot_logs(self, lot_ids: Sequence[str] | None = None) -> dict[str, LotLog]:
        def read(conn: sqlite3.Connection) -> dict[str, LotLog]:
            logs: dict[str, LotLog] = {}
            behind: list[tuple[str, int]] = []
            rows: Iterable[tuple[str, int, bytes | None]] = (
                conn.execute("SELECT lot_id, seq, snapshot FROM lot_state")
                if lot_ids is None
                else itertools.chain.from_iterable(
                    conn.execute(
                        "SELECT lot_id, seq, snapshot FROM lot_state"
                        f" WHERE lot_id IN ({_marks(chunk)})",
                        chunk,
                    ).fetchall()
                    for chunk in _chunks(lot_ids)
                )
            )
            for lot_id, seq, blob in rows:
                log = _lot_log(blob)
                logs[lot_id] = log
                after = log.snapshot.seq if log.snapshot is not None else 0
                if seq > after:
                    behind.append((lot_id, after))
            for lot_id, after in behind:
                logs[lot_id].events = _events_after(conn, lot_id, after)
            return logs

        result: dict[str, LotLog] = await self._read(read)
        return result

    async def lot_log(self, lot_id: str) -> LotLog:
        def read(conn: sqlite3.Connection) -> LotLog:
            row = conn.execute(
                "SELECT snapshot FROM lot_state WHERE lot_id = ?", (lot_id,)
            ).fetchone()
            log = _lot_log(row[0]) if row is not None else LotLog()
            after = log.snapshot.seq if log.snapshot is not None else 0
            log.events = _events_after(conn, lot_id, after)
            return log

        result: LotLog = await self._read(read)
        return result

    async def save_snapshots(self, lots: Sequence[tuple[str, LotSnapshot]]) -> None:
        rows = [(s.status, SNAPSHOT_ENCODER.encode(s), lot_id, s.seq) for lot_id, s in lots]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE lot_state SET status = ?, snapshot = ? WHERE lot_id = ? AND seq = ?", rows
            )

        await self._submit(run)

    async def request_keys_since(self, since_ms: int, limit: int) -> list[tuple[str, KeyedEvent]]:
        def read(conn: sqlite3.Connection) -> list[tuple[str, KeyedEvent]]:
            cur = conn.execute(
                "SELECT request_key, body FROM events INDEXED BY events_keyed_ts"
                " WHERE request_key IS NOT NULL AND ts > ? ORDER BY ts DESC LIMIT ?",
                (since_ms, limit),
            )
            keyed = []
            for key, body in cur:
                event = EVENT_DECODER.decode(body)
                if isinstance(event, KEYED_EVENT_TYPES):
                    keyed.append((str(key), event))
            return keyed

        result: list[tuple[str, KeyedEvent]] = await self._read(read)
        return result

    async def events_since(self, lot_id: str, since_seq: int, limit: int) -> list[bytes]:
        def read(conn: sqlite3.Connection) -> list[bytes]:
            cur = conn.execute(
                "SELECT body FROM events WHERE stream = 'lot' AND lot_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (lot_id, since_seq, limit),
            )
            return [bytes(row[0]) for row in cur]

        result: list[bytes] = await self._read(read)
        return result

    async def bid_history(self, lot_id: str, before_seq: int | None, limit: int) -> list[bytes]:
        def read(conn: sqlite3.Connection) -> list[bytes]:
            cur = conn.execute(
                "SELECT body FROM events WHERE stream = 'lot' AND lot_id = ?"
                " AND type = 'bid_placed' AND seq < ? ORDER BY seq DESC LIMIT ?",
                (lot_id, before_seq if before_seq is not None else 2**62, limit),
            )
            return [bytes(row[0]) for row in cur]

        result: list[bytes] = await self._read(read)
        return result

    async def bid_voids(self, lot_id: str) -> list[bytes]:
        def read(conn: sqlite3.Connection) -> list[bytes]:
            cur = conn.execute(
                "SELECT body FROM events WHERE stream = 'lot' AND lot_id = ?"
                " AND type = 'bid_voided' ORDER BY seq",
                (lot_id,),
            )
            return [bytes(row[0]) for row in cur]

        result: list[bytes] = await self._read(read)
        return result

    async def bid_tallies(self, lot_ids: Sequence[str]) -> dict[str, BidTally]:
        def read(conn: sqlite3.Connection) -> dict[str, BidTally]:
            found: dict[str, BidTally] = {}
            for chunk in _chunks(lot_ids):
                # A bid counts unless a bid_voided of its lot lists its seq. The voided seqs
                # are gathered first (a few rows, which SQLite indexes for the join: a NOT IN
                # of them took 30x longer), and both reads go by the primary key's
                # (stream, lot_id) prefix: 200,000 bids are counted in about 0.2 s.
                marks = _marks(chunk)
                cur = conn.execute(
                    "WITH voided(lot_id, seq) AS MATERIALIZED ("
                    "  SELECT v.lot_id, CAST(j.value AS INTEGER) FROM events v,"
                    "  json_each(json_extract(CAST(v.body AS TEXT), '$.voided')) j"
                    f"  WHERE v.stream = 'lot' AND v.lot_id IN ({marks})"
                    "  AND v.type = 'bid_voided')"
                    " SELECT b.lot_id, COUNT(*),"
                    " COUNT(DISTINCT json_extract(CAST(b.body AS TEXT), '$.bidder'))"
                    " FROM events b LEFT JOIN voided x ON x.lot_id = b.lot_id AND x.seq = b.seq"
                    " WHERE b.stream = 'lot' AND b.type = 'bid_placed'"
                    f" AND b.lot_id IN ({marks}) AND x.seq IS NULL"
                    " GROUP BY b.lot_id",
                    [*chunk, *chunk],
                )
                found.update((row[0], BidTally(row[1], row[2])) for row in cur)
            return found

        result: dict[str, BidTally] = await self._read(read)
        return result

    async def report_facts(self, lot_ids: Sequence[str], *, bidders: bool = True) -> ReportFacts:
        """A closed lot's facts from ``report_lots``/``report_bidders`` (one row each); the
        others by the aggregates below over the lots' events, read by the log's key (stream,
        lot, seq). Those of lots closed since are kept for the next read. The reader is
        shared: lots to count go COUNT_CHUNK to a read, so other reads pass in between."""

        def read_kept(
            conn: sqlite3.Connection, chunk: list[str]
        ) -> tuple[ReportFacts, list[str], list[tuple[int, int]]]:
            marks = _marks(chunk)
            cur = conn.execute(_KEPT_LOTS.format(marks=marks), [REPORT_FACTS_VERSION, *chunk])
            kept = ReportFacts([LotTally(*row) for row in cur], [])
            if bidders and kept.lots:
                ids = [t.lot_id for t in kept.lots]
                cur = conn.execute(_KEPT_BIDDERS.format(marks=_marks(ids)), ids)
                kept.bidders.extend(BidderTally(*row) for row in cur)
            known = {t.lot_id for t in kept.lots}
            chunk_minutes: list[tuple[int, int]] = []
            if bidders:
                cur = conn.execute(_REPORT_MINUTES.format(marks=marks), chunk * 2)
                chunk_minutes = [(int(minute), int(bids)) for minute, bids in cur]
            return kept, [lot_id for lot_id in chunk if lot_id not in known], chunk_minutes

        def counted(conn: sqlite3.Connection, part: list[str]) -> ReportFacts:
            fresh = ReportFacts([], [])
            _count_facts(conn, part, fresh)
            return fresh

        facts = ReportFacts([], [])
        minutes: dict[int, int] = {}
        for chunk in _chunks(lot_ids):
            found: tuple[ReportFacts, list[str], list[tuple[int, int]]]
            found = await self._read(functools.partial(read_kept, chunk=chunk))
            kept, rest, chunk_minutes = found
            facts.lots.extend(kept.lots)
            facts.bidders.extend(kept.bidders)
            for minute, bids in chunk_minutes:
                minutes[minute] = minutes.get(minute, 0) + bids
            for part in _chunks(rest, COUNT_CHUNK):
                fresh: ReportFacts = await self._read(functools.partial(counted, part=part))
                facts.lots.extend(fresh.lots)
                if bidders:
                    facts.bidders.extend(fresh.bidders)
                closed = {t.lot_id for t in fresh.lots if t.outcome is not None}
                if closed:
                    await self._keep_facts(
                        [t for t in fresh.lots if t.lot_id in closed],
                        [t for t in fresh.bidders if t.lot_id in closed],
                    )
        if bidders:
            facts.minutes = sorted(minutes.items())
        return facts

    async def keep_missing_facts(self) -> int:
        """Count and keep the facts of every closed lot that has none of this version (a store
        from before they were kept, or one a bench built by direct inserts), COUNT_CHUNK lots
        a read; how many were kept. The server runs it in the background once it listens."""

        def missing(conn: sqlite3.Connection, after: str) -> list[str]:
            # by id, so a lot still open (counted, not kept) is passed once, not met again
            cur = conn.execute(
                "SELECT id FROM lots WHERE id > ? AND id NOT IN"
                " (SELECT lot_id FROM report_lots WHERE version = ?) ORDER BY id LIMIT ?",
                (after, REPORT_FACTS_VERSION, COUNT_CHUNK),
            )
            return [str(row[0]) for row in cur]

        kept, after = 0, ""
        while lots := await self._read(functools.partial(missing, after=after)):
            facts = await self.report_facts(lots, bidders=False)
            kept += sum(t.outcome is not None for t in facts.lots)
            after = lots[-1]
        return kept

    async def _keep_facts(self, lots: list[LotTally], bidders: list[BidderTally]) -> None:
        """Keep closed lots' facts; a store that cannot commit now makes them next time."""

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM report_bidders WHERE lot_id = ?", [(t.lot_id,) for t in lots]
            )
            conn.executemany(
                "INSERT OR REPLACE INTO report_lots (lot_id, version, outcome, reason, winner,"
                " amount, extensions, opened_at, closed_at, bids, auto, late, extend, bidders)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        t.lot_id,
                        REPORT_FACTS_VERSION,
                        t.outcome,
                        t.reason,
                        t.winner,
                        t.amount,
                        t.extensions,
                        t.opened_at,
                        t.closed_at,
                        t.bids,
                        t.auto,
                        t.late,
                        t.extend,
                        t.bidders,
                    )
                    for t in lots
                ],
            )
            conn.executemany(
                "INSERT INTO report_bidders (lot_id, bidder, bids, auto, late, extend, best)"
                " VALUES (?,?,?,?,?,?,?)",
                [(t.lot_id, t.bidder, t.bids, t.auto, t.late, t.extend, t.best) for t in bidders],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO report_sale_bidders (sale_id, bidder)"
                " SELECT sale_id, ? FROM lots WHERE id = ?",
                [(t.bidder, t.lot_id) for t in bidders],
            )

        with contextlib.suppress(StoreUnavailable):
            await self._submit(run)

    async def bidder_counts(self, sale_ids: Sequence[str]) -> tuple[list[int], int]:
        chosen = json.dumps(list(sale_ids))

        def read(conn: sqlite3.Connection) -> tuple[list[int], int]:
            place = {sale_id: n for n, sale_id in enumerate(sale_ids)}
            counts = [0] * len(sale_ids)
            args = (chosen, REPORT_FACTS_VERSION, chosen)
            cur = conn.execute(
                _BIDDER_COUNTS + "SELECT sale_id, COUNT(DISTINCT bidder) FROM names"
                " GROUP BY sale_id",
                args,
            )
            for sale_id, n in cur:
                counts[place[sale_id]] = n
            cur = conn.execute(_BIDDER_COUNTS + "SELECT COUNT(DISTINCT bidder) FROM names", args)
            return counts, int(cur.fetchone()[0])

        result: tuple[list[int], int] = await self._read(read)
        return result

    async def integrity_facts(
        self, lot_ids: Sequence[str], quick_ms: int
    ) -> tuple[list[LotRun], list[BidderPart]]:
        def read(conn: sqlite3.Connection) -> tuple[list[LotRun], list[BidderPart]]:
            runs: list[LotRun] = []
            parts: list[BidderPart] = []
            for chunk in _chunks(lot_ids, COUNT_CHUNK):
                marks = _marks(chunk)
                cur = conn.execute(_INTEGRITY_PARTS.format(marks=marks), [*chunk, *chunk, quick_ms])
                parts.extend(
                    BidderPart(lot, who, n, placed, quick, first, last, bool(leads))
                    for lot, who, n, placed, quick, first, last, leads in cur
                )
                cur = conn.execute(_INTEGRITY_RUNS.format(marks=marks), chunk)
                runs.extend(LotRun(*row) for row in cur)
            return runs, parts

        result: tuple[list[LotRun], list[BidderPart]] = await self._read(read)
        return result

    async def lot_terms(self, lot_ids: Sequence[str]) -> list[LotTerms]:
        def read(conn: sqlite3.Connection) -> list[LotTerms]:
            found: dict[str, LotTerms] = {}
            for chunk in _chunks(lot_ids):
                # one parse of each spec for the five fields (five json_extract: 4x slower)
                cur = conn.execute(
                    "SELECT id, json_extract(spec, '$.currency', '$.starting_price',"
                    " '$.reserve', '$.estimate_low', '$.estimate_high')"
                    f" FROM lots WHERE id IN ({_marks(chunk)})",
                    chunk,
                )
                found.update((row[0], LotTerms(row[0], *json.loads(row[1]))) for row in cur)
            return [found[lot_id] for lot_id in lot_ids if lot_id in found]

        result: list[LotTerms] = await self._read(read)
        return result


REPORT_FACTS_VERSION = 1
"""The shape of ``report_lots`` rows: a kept row of another version is counted again."""


def _count_facts(conn: sqlite3.Connection, lot_ids: Sequence[str], facts: ReportFacts) -> None:
    """The facts of ``lot_ids`` (at most READ_CHUNK) from their events, into ``facts``: three
    passes by the log's key, joined here (a join in SQL re-read every lot's events per lot)."""
    marks = _marks(lot_ids)
    cur = conn.execute(_REPORT_BIDS.format(marks=marks), [*lot_ids] * 2)
    rows = [BidderTally(*row) for row in cur]
    facts.bidders.extend(rows)
    sums: dict[str, list[int]] = {}
    for row in rows:
        tally = sums.setdefault(row.lot_id, [0, 0, 0, 0, 0])
        tally[0] += row.bids
        tally[1] += row.auto
        tally[2] += row.late
        tally[3] += row.extend
        tally[4] += 1
    closes = {row[0]: row[1:] for row in conn.execute(_REPORT_CLOSES.format(marks=marks), lot_ids)}
    for lot_id, extensions, opened_at in conn.execute(_REPORT_MOVES.format(marks=marks), lot_ids):
        outcome, reason, winner, amount, closed_at = closes.get(lot_id, (None,) * 5)
        facts.lots.append(
            LotTally(
                lot_id,
                outcome,
                reason,
                winner,
                amount,
                extensions,
                opened_at,
                closed_at,
                *sums.get(lot_id, (0, 0, 0, 0, 0)),
            )
        )


_KEPT_LOTS = """
SELECT lot_id, outcome, reason, winner, amount, extensions, opened_at, closed_at,
    bids, auto, late, extend, bidders
FROM report_lots WHERE version = ? AND lot_id IN ({marks})
"""

_KEPT_BIDDERS = """
SELECT lot_id, bidder, bids, auto, late, extend, best FROM report_bidders
WHERE lot_id IN ({marks}) ORDER BY lot_id, bidder
"""

_REPORT_BIDS = """
WITH voided AS MATERIALIZED (
    SELECT e.lot_id || ' ' || CAST(j.value AS INTEGER) AS bid
    FROM events e, json_each(json_extract(CAST(e.body AS TEXT), '$.voided')) j
    WHERE e.stream = 'lot' AND e.type = 'bid_voided' AND e.lot_id IN ({marks})
), timeline AS (
    SELECT lot_id, seq, type, ts, bidder, amount, auto,
        LAG(ends_at) OVER lot AS deadline,
        MIN(CASE WHEN type = 'lot_opened' THEN ts END) OVER lot AS t0,
        MIN(CASE WHEN type = 'lot_closed' THEN ts END) OVER whole AS t1
    FROM (
        SELECT lot_id, seq, type, ts,
            json_extract(CAST(body AS TEXT), '$.bidder') AS bidder,
            json_extract(CAST(body AS TEXT), '$.amount') AS amount,
            json_extract(CAST(body AS TEXT), '$.auto') AS auto,
            json_extract(CAST(body AS TEXT), '$.ends_at') AS ends_at
        FROM events
        WHERE stream = 'lot' AND lot_id IN ({marks}) AND type IN ('lot_opened', 'bid_placed',
            'bid_voided', 'lot_extended', 'lot_resumed', 'lot_closed')
    )
    WINDOW lot AS (PARTITION BY lot_id ORDER BY seq ROWS UNBOUNDED PRECEDING),
        whole AS (PARTITION BY lot_id)
)
SELECT b.lot_id, b.bidder, COUNT(*), COALESCE(SUM(b.auto = 1), 0),
    COALESCE(SUM(10 * b.ts >= 10 * b.t1 - (b.t1 - b.t0)), 0),
    COALESCE(SUM(b.deadline - b.ts < (
        SELECT json_extract(spec, '$.extend_ms') FROM lots WHERE id = b.lot_id
    )), 0),
    MAX(b.amount)
FROM timeline b
WHERE b.type = 'bid_placed' AND b.lot_id || ' ' || b.seq NOT IN (SELECT bid FROM voided)
GROUP BY b.lot_id, b.bidder ORDER BY b.lot_id, b.bidder
"""
"""Each bidder's bids per lot (voided ones left out), the automatic ones, those in the final
10% of the lot's window (first opening to close: 10*ts >= 10*close - window), those with less
than ``extend_ms`` left before the deadline the bid found (the ``ends_at`` of the event before
it: every event of these types but the close sets one), and the bidder's highest. The fields
are read from each body once, before the windows (carrying bodies through their sort cost
5x), and the windows run forward only (a frame to the partition's end is recounted per row)."""

_REPORT_MOVES = """
SELECT lot_id, COALESCE(SUM(type IN ('bid_placed', 'lot_extended') AND ends_at > before), 0),
    MIN(CASE WHEN type = 'lot_opened' THEN ts END)
FROM (
    SELECT lot_id, type, ts, ends_at, LAG(upto) OVER (PARTITION BY lot_id ORDER BY seq) AS before
    FROM (
        SELECT lot_id, seq, type, ts, ends_at, MAX(ends_at) OVER (
            PARTITION BY lot_id ORDER BY seq ROWS UNBOUNDED PRECEDING
        ) AS upto
        FROM (
            SELECT lot_id, seq, type, ts, json_extract(CAST(body AS TEXT), '$.ends_at') AS ends_at
            FROM events WHERE stream = 'lot' AND lot_id IN ({marks})
                AND type IN ('lot_opened', 'bid_placed', 'lot_extended', 'lot_resumed')
        )
    )
)
GROUP BY lot_id ORDER BY lot_id
"""
"""Each lot that opened: how often a bid or an extension moved its deadline later than any
before it (a resume's new deadline is a base, not an extension; the running maximum is a
forward window, linear), and its first opening."""

_REPORT_CLOSES = """
SELECT lot_id, json_extract(CAST(body AS TEXT), '$.outcome'),
    json_extract(CAST(body AS TEXT), '$.reason'), json_extract(CAST(body AS TEXT), '$.winner'),
    json_extract(CAST(body AS TEXT), '$.amount'), ts
FROM events WHERE stream = 'lot' AND type = 'lot_closed' AND lot_id IN ({marks})
"""

_REPORT_MINUTES = """
WITH voided AS MATERIALIZED (
    SELECT e.lot_id, CAST(j.value AS INTEGER) AS seq
    FROM events e, json_each(json_extract(CAST(e.body AS TEXT), '$.voided')) j
    WHERE e.stream = 'lot' AND e.type = 'bid_voided' AND e.lot_id IN ({marks})
)
SELECT b.ts / 60000 * 60000 AS minute, COUNT(*)
FROM events b LEFT JOIN voided x ON x.lot_id = b.lot_id AND x.seq = b.seq
WHERE b.stream = 'lot' AND b.type = 'bid_placed' AND b.lot_id IN ({marks}) AND x.seq IS NULL
GROUP BY minute
"""
"""The counted bids per minute (by the ``ts`` column: no event body read but the voids')."""

_BIDDER_COUNTS = """
WITH chosen(sale_id) AS MATERIALIZED (SELECT value FROM json_each(?)),
live AS MATERIALIZED (
    SELECT l.id AS lot_id, l.sale_id FROM lots l
    WHERE l.sale_id IN (SELECT sale_id FROM chosen)
        AND l.id NOT IN (SELECT lot_id FROM report_lots WHERE version = ?)
), voided AS MATERIALIZED (
    SELECT e.lot_id || ' ' || CAST(j.value AS INTEGER) AS bid
    FROM live c CROSS JOIN events e ON e.stream = 'lot' AND e.lot_id = c.lot_id
        AND e.type = 'bid_voided',
        json_each(json_extract(CAST(e.body AS TEXT), '$.voided')) j
), names(sale_id, bidder) AS (
    SELECT sale_id, bidder FROM report_sale_bidders
    WHERE sale_id IN (SELECT value FROM json_each(?))
    UNION ALL
    SELECT c.sale_id, json_extract(CAST(e.body AS TEXT), '$.bidder')
    FROM live c CROSS JOIN events e ON e.stream = 'lot' AND e.lot_id = c.lot_id
        AND e.type = 'bid_placed'
    WHERE e.lot_id || ' ' || e.seq NOT IN (SELECT bid FROM voided)
)
"""
"""The people with a counted bid per sale: the kept (closed) lots' from
``report_sale_bidders`` (a row per sale and person), the other lots' from their bids. CROSS
JOIN keeps the open lots outside, each read by the log's key (SQLite otherwise chose to scan
every lot's events for the voids)."""

_INTEGRITY_PARTS = """
WITH voided AS MATERIALIZED (
    SELECT e.lot_id || ' ' || CAST(j.value AS INTEGER) AS bid
    FROM events e, json_each(json_extract(CAST(e.body AS TEXT), '$.voided')) j
    WHERE e.stream = 'lot' AND e.type = 'bid_voided' AND e.lot_id IN ({marks})
), standing AS (
    SELECT lot_id, seq, ts,
        json_extract(CAST(body AS TEXT), '$.bidder') AS bidder,
        COALESCE(json_extract(CAST(body AS TEXT), '$.auto'), 0) AS auto
    FROM events
    WHERE stream = 'lot' AND type = 'bid_placed' AND lot_id IN ({marks})
        AND lot_id || ' ' || seq NOT IN (SELECT bid FROM voided)
), ordered AS (
    SELECT lot_id, bidder, ts, auto,
        LAG(bidder) OVER w AS before_bidder, LAG(ts) OVER w AS before_ts,
        ROW_NUMBER() OVER (PARTITION BY lot_id ORDER BY seq DESC) AS from_last
    FROM standing WINDOW w AS (PARTITION BY lot_id ORDER BY seq)
)
SELECT lot_id, bidder, COUNT(*), SUM(auto = 0),
    SUM(auto = 0 AND before_bidder IS NOT NULL AND before_bidder != bidder
        AND ts - before_ts <= ?),
    MIN(ts), MAX(ts), MAX(from_last = 1)
FROM ordered GROUP BY lot_id, bidder ORDER BY lot_id, bidder
"""
"""Each bidder's part in each lot over the bids that stand: bids, those they placed, those
placed within quick_ms of someone else's (retaking the lead at once), first and last, and
whether theirs is the last (engine/integrity.py's LotTrack.bid, in SQL)."""

_INTEGRITY_RUNS = """
SELECT l.lot_id,
    (SELECT MIN(ts) FROM events WHERE stream = 'lot' AND lot_id = l.lot_id
        AND type = 'lot_opened'),
    (SELECT MIN(ts) FROM events WHERE stream = 'lot' AND lot_id = l.lot_id
        AND type = 'lot_closed'),
    (SELECT json_extract(CAST(body AS TEXT), '$.ends_at') FROM events
        WHERE stream = 'lot' AND lot_id = l.lot_id AND type IN ('bid_placed', 'bid_voided',
            'lot_opened', 'lot_extended', 'lot_resumed') ORDER BY seq DESC LIMIT 1),
    json_extract(CAST(c.body AS TEXT), '$.outcome'),
    json_extract(CAST(c.body AS TEXT), '$.reason'),
    json_extract(CAST(c.body AS TEXT), '$.winner')
FROM (SELECT lot_id FROM lot_state WHERE lot_id IN ({marks}) AND seq > 0) l
    LEFT JOIN events c ON c.stream = 'lot' AND c.lot_id = l.lot_id AND c.type = 'lot_closed'
ORDER BY l.lot_id
"""
"""Each lot's first opening, close, last deadline and outcome, read by the log's key."""

READ_CHUNK = 500
"""Ids per ``IN (...)`` read: well under SQLite's 32,766 parameters."""
COUNT_CHUNK = 50
"""Lots counted from their events per read (about 5,000 bids: tens of ms on the shared reader)."""


def _chunks(ids: Sequence[str], size: int = READ_CHUNK) -> list[list[str]]:
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def _marks(chunk: Sequence[str]) -> str:
    return ",".join("?" * len(chunk))


def _lot_log(blob: bytes | None) -> LotLog:
    """A lot's stored snapshot; a row whose snapshot is unreadable replays its whole log."""
    if blob is None:
        return LotLog()
    try:
        return decode_snapshot(blob)
    except msgspec.DecodeError:
        return LotLog()


def _events_after(conn: sqlite3.Connection, lot_id: str, seq: int) -> list[LotEvent]:
    cur = conn.execute(
        "SELECT body FROM events WHERE stream = 'lot' AND lot_id = ? AND seq > ? ORDER BY seq",
        (lot_id, seq),
    )
    return [EVENT_DECODER.decode(body) for (body,) in cur]


def _job_fault(fault: Exception) -> Exception:
    """What one job's waiter sees: a seq conflict as is, a broken UNIQUE constraint (a taken
    name, a request key used before) as a Conflict, another constraint as bad input; never a
    bare sqlite3 error or ValueError."""
    if isinstance(fault, SeqConflict):
        return fault
    name = getattr(fault, "sqlite_errorname", "")
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
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


def _insert_lots(
    conn: sqlite3.Connection, sale_id: str, lots: Sequence[LotSpec], *, first: int
) -> None:
    """Catalogue ``lots`` in ``sale_id`` from position ``first`` on, each scheduled at seq 0."""
    for index, lot in enumerate(lots, start=first):
        conn.execute(
            "INSERT INTO lots (id, sale_id, position, spec) VALUES (?, ?, ?, ?)",
            (lot.id, sale_id, index, json.dumps(lot_spec_to_record(lot))),
        )
        conn.execute(
            "INSERT INTO lot_state (lot_id, seq, status) VALUES (?, 0, 'scheduled')", (lot.id,)
        )
