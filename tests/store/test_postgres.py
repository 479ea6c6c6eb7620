"""What only the PostgreSQL store does (the shared contract is tests/store/test_contract.py):
group commit, the sales' leases as a fence, the database's clock as the judge of deadlines,
and StoreUnavailable with recovery when the server goes away and comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bidwire.domain.events import (
    BidPlaced,
    LotClosed,
    LotEvent,
    LotExtended,
    LotOpened,
    SaleEvent,
    SalePaused,
    SaleStarted,
)
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.errors import (
    Conflict,
    LeaseLost,
    SeqConflict,
    StoreUnavailable,
    TooEarly,
    TooLate,
)
from bidwire.store import open_store
from bidwire.store.postgres import PostgresOptions, PostgresStore
from tests.store.pg import fresh_schema, with_query
from tests.store.pg_server import OwnPostgres, free_port

pytestmark = pytest.mark.timeout(60)

SALES = [SaleSpec("s", "Sale", ("w", "v")), SaleSpec("t", "Other", ("u",))]
LOTS = {
    "s": [LotSpec(id="w", title="Watch"), LotSpec(id="v", title="Vase")],
    "t": [LotSpec("u", "U")],
}


def opened(lot: str = "w", ends_at: int = 40_000, sale: str = "s") -> LotOpened:
    return LotOpened(lot, 1, sale, lot, "", "USD", 100, 100, ends_at, 10_000)


def bid(seq: int, amount: int, lot: str = "w", ends_at: int = 50_000) -> BidPlaced:
    return BidPlaced(lot, seq, amount, "ann", ends_at, amount + 7, 20_000 + seq)


async def catalogued(store: PostgresStore) -> PostgresStore:
    for sale in SALES:
        await store.add_sale(sale, LOTS[sale.id])
    return store


def as_postgres(store: object) -> PostgresStore:
    assert isinstance(store, PostgresStore)
    return store


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with fresh_schema() as made:
        yield made


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    async with open_store(url) as opened_store:
        yield await catalogued(as_postgres(opened_store))


async def transactions_that_wrote(store: PostgresStore, lot_id: str) -> int:
    """Counted by PostgreSQL, not by the store: the distinct transaction ids on the rows."""

    async def read(conn: object) -> int:
        return int(
            await conn.fetchval(  # type: ignore[attr-defined]
                "SELECT count(DISTINCT xmin::text) FROM events WHERE lot_id = $1", lot_id
            )
        )

    counted: int = await store._read(read)
    return counted


# -- the URL --------------------------------------------------------------------------------


def test_the_url_carries_the_stores_options_and_passes_the_rest_to_asyncpg() -> None:
    options = PostgresOptions.from_url(
        "postgresql://bob@db:6543/house?schema=node_a&db_clock=1&pool=2&sslmode=disable"
    )
    assert (options.schema, options.db_clock, options.pool) == ("node_a", True, 2)
    assert options.dsn == "postgresql://bob@db:6543/house?sslmode=disable"
    assert options.where() == "PostgreSQL at db:6543, database house, schema node_a"
    plain = PostgresOptions.from_url("postgresql://u:secret@h/d")
    assert (plain.schema, plain.db_clock, plain.pool) == (None, False, 4)
    assert "secret" not in plain.where()
    for bad, named in [
        ("postgresql://h/d?schema=Robert'); DROP", "schema"),
        ("postgresql://h/d?db_clock=maybe", "db_clock"),
        ("postgresql://h/d?pool=0", "pool"),
        ("postgresql://h/d?pool=many", "pool"),
    ]:
        with pytest.raises(ValueError, match=named):
            PostgresOptions.from_url(bad)


# -- group commit ---------------------------------------------------------------------------


async def test_many_appends_commit_in_few_transactions_and_in_order(store: PostgresStore) -> None:
    await store.append([opened()])
    commits = store.commits
    futures = [store.append([bid(seq, seq * 10)]) for seq in range(2, 2002)]
    await asyncio.gather(*futures)
    events = (await store.lot_log("w")).events
    assert [e.seq for e in events] == list(range(1, 2002))
    written = await transactions_that_wrote(store, "w")
    # 2,000 appends queued at once: the first commits alone, the rest in a batch or two
    assert written - 1 <= 10, written
    assert store.commits - commits <= 10


async def test_a_write_that_is_no_bid_leaves_its_batchs_bids_one_statement(
    store: PostgresStore,
) -> None:
    # a guest's first bid also saves the guest: that write, in the bids' batch, made the whole
    # batch go job by job (a savepoint each: a transaction id each on the rows)
    await store.append([opened()])
    await asyncio.sleep(0.05)  # the writer waits for the next batch
    futures = [store.append([bid(seq, seq * 10)]) for seq in range(2, 202)]

    async def save(conn: object) -> None:
        await conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO guest_sessions (token_hash, name, last_seen) VALUES ('t', 'gus', 1)"
        )

    saved = store._submit(save)
    futures += [store.append([bid(seq, seq * 10)]) for seq in range(202, 302)]
    await asyncio.gather(saved, *futures)
    assert [e.seq for e in (await store.lot_log("w")).events] == list(range(1, 302))
    assert await store.kept_guests(0, 10) == [("t", "gus", 1)]
    assert await transactions_that_wrote(store, "w") <= 4  # not 300


async def test_a_fault_in_a_batch_fails_only_its_own_append(store: PostgresStore) -> None:
    await store.append([opened()])
    await store.append([bid(2, 20)], request_key="ann\x00used")
    futures = [store.append([bid(seq, seq * 10)]) for seq in range(3, 50)]
    stale = store.append([bid(20, 999)])  # seq 20 is taken by then
    reused = store.append([bid(50, 5)], request_key="ann\x00used")
    other: list[LotEvent] = [opened("v"), bid(2, 200, lot="v")]
    others = [store.append([event]) for event in [bid(50, 500), *other]]
    results = await asyncio.gather(*futures, stale, reused, *others, return_exceptions=True)
    assert all(r is None for r in results[:47])
    assert isinstance(results[47], SeqConflict)
    assert isinstance(results[48], Conflict)
    assert results[49:] == [None, None, None]
    assert (await store.lot_log("w")).events[1:] == [bid(seq, seq * 10) for seq in range(2, 51)]
    assert (await store.lot_log("v")).events == other


async def test_two_stores_racing_for_one_seq_store_it_once(url: str) -> None:
    """Two nodes on one lot, no lease: each append moves the state row only from its seq, so
    of two appends at the same seq exactly one commits, whatever the interleaving."""
    async with open_store(url) as a_opened, open_store(url) as b_opened:
        a, b = await catalogued(as_postgres(a_opened)), as_postgres(b_opened)
        await a.append([opened()])
        for seq in range(2, 42):
            results = await asyncio.gather(
                a.append([bid(seq, seq * 10)]),
                b.append([bid(seq, seq * 10 + 1)]),
                return_exceptions=True,
            )
            assert sorted(type(r).__name__ for r in results) == ["NoneType", "SeqConflict"]
        events = (await b.lot_log("w")).events
        assert [e.seq for e in events] == list(range(1, 42))


# -- the fence ------------------------------------------------------------------------------


async def test_a_second_holder_takes_an_expired_lease_and_the_first_is_refused(url: str) -> None:
    async with open_store(url) as a_opened, open_store(url) as b_opened:
        a, b = await catalogued(as_postgres(a_opened)), as_postgres(b_opened)
        first = await a.acquire_lease("s", "node-a", ttl_ms=300)
        assert first == 1
        assert await b.acquire_lease("s", "node-b", ttl_ms=10_000) is None  # still held
        await a.append([opened()])  # fenced, and the epoch holds
        await a.append([SaleStarted("s", 1, "Sale", "live", ["w", "v"], 1_000)])
        assert await a.renew_lease("s", "node-a", 1, ttl_ms=1)  # a last renewal, 1 ms long
        await asyncio.sleep(0.05)
        second = await b.acquire_lease("s", "node-b", ttl_ms=10_000)
        assert second == 2
        with pytest.raises(LeaseLost, match="node-b, epoch 2"):
            await a.append([bid(2, 100)])
        with pytest.raises(LeaseLost):
            await a.append([SalePaused("s", 2, "root", 2_000)])
        assert not await a.renew_lease("s", "node-a", 1, ttl_ms=10_000)
        with pytest.raises(LeaseLost):  # a refused renewal leaves the store fenced
            await a.append([bid(2, 100)])
        await b.append([bid(2, 300)])
        assert [e for e in (await b.lot_log("w")).events] == [opened(), bid(2, 300)]
        assert [e.seq for e in await b.sale_log("s")] == [1]
        rows = await a.leases()
        assert [(r.sale_id, r.holder, r.epoch) for r in rows] == [("s", "node-b", 2)]
        assert rows[0].expires_at > await a.db_now_ms()


async def test_a_lost_lease_fails_its_sales_appends_in_a_batch_and_no_others(url: str) -> None:
    async with open_store(url) as a_opened, open_store(url) as b_opened:
        a, b = await catalogued(as_postgres(a_opened)), as_postgres(b_opened)
        assert await a.acquire_lease("s", "node-a", ttl_ms=1) == 1
        await asyncio.sleep(0.05)
        assert await b.acquire_lease("s", "node-b", ttl_ms=10_000) == 2
        # lot u is in sale t, whose lease nobody holds: unfenced; w and v are in s
        futures = [a.append([opened("u", sale="t")]), a.append([opened("w")])]
        futures += [a.append([bid(seq, seq * 10, lot="u")]) for seq in range(2, 30)]
        futures.append(a.append([opened("v")]))
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert isinstance(results[1], LeaseLost) and isinstance(results[-1], LeaseLost)
        assert results[0] is None and all(r is None for r in results[2:-1])
        assert (await a.lot_log("w")).events == [] and (await a.lot_log("v")).events == []
        assert len((await a.lot_log("u")).events) == 29


async def test_a_released_lease_is_taken_at_once_with_a_higher_epoch(url: str) -> None:
    async with open_store(url) as a_opened, open_store(url) as b_opened:
        a, b = await catalogued(as_postgres(a_opened)), as_postgres(b_opened)
        assert await a.acquire_lease("s", "node-a", ttl_ms=60_000) == 1
        assert await a.acquire_lease("s", "node-a", ttl_ms=60_000) == 2  # a restart of a
        assert await a.release_lease("s", "node-a", 2)
        assert await b.acquire_lease("s", "node-b", ttl_ms=60_000) == 3
        await a.append([opened()])  # released: unfenced again (the seq still guards)
        with pytest.raises(ValueError, match="positive"):
            await a.acquire_lease("s", "node-a", ttl_ms=0)


# -- the database's clock -------------------------------------------------------------------


@pytest.fixture
async def clocked(url: str) -> AsyncIterator[PostgresStore]:
    async with open_store(with_query(url, "db_clock=1")) as opened_store:
        yield await catalogued(as_postgres(opened_store))


async def test_a_bid_after_the_deadline_by_the_databases_clock_is_refused(
    clocked: PostgresStore,
) -> None:
    now = await clocked.db_now_ms()
    await clocked.append([opened(ends_at=now + 60_000)])
    # the node's clock says long before: only the database's counts
    await clocked.append([bid(2, 100, ends_at=now + 60_000)])
    await clocked.append([LotExtended("w", 3, now - 1, "test", 1)])  # the deadline, passed
    with pytest.raises(TooLate, match="database's clock") as raised:
        await clocked.append([bid(4, 200)])
    assert raised.value.code == "lot_not_open"
    buy = LotClosed("w", 4, "sold", "ann", 900, 1, "buy_now")
    with pytest.raises(TooLate):
        await clocked.append([buy])
    assert [e.seq for e in (await clocked.lot_log("w")).events] == [1, 2, 3]
    await clocked.append([LotClosed("w", 4, "sold", "ann", 100, 1)])  # the hammer: in time


async def test_a_close_before_the_deadline_by_the_databases_clock_is_refused(
    clocked: PostgresStore,
) -> None:
    now = await clocked.db_now_ms()
    await clocked.append([opened(ends_at=now + 60_000)])
    hammer = LotClosed("w", 2, "unsold", None, None, now + 60_000, "no_bids")
    with pytest.raises(TooEarly, match="runs fast") as raised:
        await clocked.append([hammer])  # the node's clock ran a minute ahead
    assert raised.value.code == "too_early"
    assert (await clocked.lot_log("w")).events == [opened(ends_at=now + 60_000)]
    withdrawn = LotClosed("w", 2, "unsold", None, None, 1, "withdrawn", "root")
    await clocked.append([withdrawn])  # not a close at the deadline: no check


async def test_the_clock_checks_each_append_of_a_batch_against_the_deadline_it_found(
    clocked: PostgresStore,
) -> None:
    now = await clocked.db_now_ms()
    await clocked.append([opened(ends_at=now + 60_000)])
    await clocked.append([opened("v", ends_at=now + 60_000)])
    futures = [clocked.append([bid(seq, seq * 10, ends_at=now + 60_000)]) for seq in range(2, 20)]
    futures.append(clocked.append([LotExtended("w", 20, now - 5, "test", 1)]))
    late = clocked.append([bid(21, 900)])  # queued behind the passed deadline, same batch
    on_v = clocked.append([bid(2, 500, lot="v", ends_at=now + 60_000)])
    results = await asyncio.gather(*futures, late, on_v, return_exceptions=True)
    assert all(r is None for r in results[:19]) and results[-1] is None
    assert isinstance(results[19], TooLate)
    assert [e.seq for e in (await clocked.lot_log("w")).events] == list(range(1, 21))


async def test_without_the_option_the_nodes_clock_rules(store: PostgresStore) -> None:
    now = await store.db_now_ms()
    await store.append([opened(ends_at=now - 60_000)])
    await store.append([bid(2, 100)])  # one node: its own clock decided, the store keeps it
    assert abs(await store.db_now_ms() - int(time.time() * 1000)) < 5_000


# -- unavailable, then back -----------------------------------------------------------------


async def test_a_store_that_cannot_reach_postgresql_says_so_in_words() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}.*cannot be reached"):
        async with open_store(f"postgresql://postgres@127.0.0.1:{port}/postgres"):
            pass


async def test_postgresql_down_is_unavailable_and_back_is_recovered_without_a_restart(
    own_postgres: OwnPostgres,
) -> None:
    async with open_store(own_postgres.dsn) as opened_store:
        store = await catalogued(as_postgres(opened_store))
        await store.append([opened()])
        assert store.fault() is None
        await asyncio.to_thread(own_postgres.stop)
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            await store.append([bid(2, 100)])
        fault = store.fault()
        assert fault is not None and f"127.0.0.1:{own_postgres.port}" in fault
        with pytest.raises(StoreUnavailable):
            await store.lot_log("w")
        await asyncio.to_thread(own_postgres.start)
        deadline = time.monotonic() + 10
        while store.fault() is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert store.fault() is None, "the probe saw the server back"
        await store.append([bid(2, 100)])  # a fresh connection, no restart of the store
        assert [e.seq for e in (await store.lot_log("w")).events] == [1, 2]
        assert await store.sale_logs() == {}


async def test_appends_queued_while_postgresql_is_down_fail_and_later_ones_commit(
    own_postgres: OwnPostgres,
) -> None:
    async with open_store(own_postgres.dsn) as opened_store:
        store = await catalogued(as_postgres(opened_store))
        await store.append([opened()])
        await asyncio.to_thread(own_postgres.stop)
        sale_log: list[SaleEvent] = [SaleStarted("s", 1, "Sale", "live", ["w", "v"], 1)]
        results = await asyncio.gather(
            *(store.append([bid(seq, seq * 10)]) for seq in range(2, 40)),
            store.append(sale_log),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreUnavailable) for r in results)
        await asyncio.to_thread(own_postgres.start)
        await store.append([bid(2, 20)])  # tried at once: the writer connects afresh
        await store.append(sale_log)
        assert [e.seq for e in (await store.lot_log("w")).events] == [1, 2]


async def test_a_close_queued_behind_an_extension_in_one_batch_waits_for_the_new_deadline(
    clocked: PostgresStore,
) -> None:
    now = await clocked.db_now_ms()
    await clocked.append([opened(ends_at=now - 1)])  # the deadline has come
    extended = clocked.append([LotExtended("w", 2, now + 60_000, "test", 1)])
    hammer = clocked.append([LotClosed("w", 3, "unsold", None, None, 1, "no_bids")])
    results = await asyncio.gather(extended, hammer, return_exceptions=True)
    assert results[0] is None and isinstance(results[1], TooEarly)
    assert [e.seq for e in (await clocked.lot_log("w")).events] == [1, 2]


async def test_a_writer_connection_cut_by_the_server_is_replaced_at_the_next_commit(
    store: PostgresStore, url: str
) -> None:
    """pg_terminate_backend on the writer's connection while idle: the next commit fails
    unavailable (or, if the driver saw the close first, commits on a new one); the writer
    lives on and the one after commits, with no restart. Five times: which of the two comes
    first is a race (seen: the writer task died of the driver's "cannot switch to state",
    leaving its batch unanswered)."""
    import asyncpg

    await store.append([opened()])
    seq = 2
    for _ in range(5):
        writer = store._writer_conn
        assert writer is not None
        admin = await asyncpg.connect(url.split("?", 1)[0], timeout=5)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", writer.get_server_pid())
        finally:
            await admin.close()
        try:
            await asyncio.wait_for(store.append([bid(seq, seq * 10)]), 10)
            seq += 1
        except StoreUnavailable as exc:
            assert "cannot be reached" in str(exc)
        await asyncio.wait_for(store.append([bid(seq, seq * 10)]), 10)
        seq += 1
    assert [e.seq for e in (await store.lot_log("w")).events] == list(range(1, seq))
    assert store.fault() is None
