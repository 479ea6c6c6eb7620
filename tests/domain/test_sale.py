from collections.abc import Callable

import pytest

from bidwire.domain.events import LotClosed, SaleEnded, SaleEvent, SalePaused
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.sale import Sale, SaleSpec, plan

T0 = 5_000_000


def make(mode: str = "live") -> tuple[SaleSpec, dict[str, Lot]]:
    sale = SaleSpec("s", "Sale", ("a", "b", "c"), mode=mode, gap_ms=2_000)  # type: ignore[arg-type]
    lots = {i: Lot(LotSpec(id=i, title=i.upper()), "s", sale.mode) for i in sale.lot_ids}
    return sale, lots


def open_and_close(lot: Lot, opened_at: int, closed_at: int) -> None:
    opened = lot.decide_open(opened_at)
    assert not isinstance(opened, Refusal)
    lot.apply(opened)
    lot.apply(LotClosed(lot.id, lot.seq + 1, "unsold", None, None, closed_at, "no_bids"))


def test_live_sale_opens_lots_one_after_another_with_a_gap() -> None:
    sale, lots = make()
    assert plan(sale, T0, lots, T0).open_now == ("a",)
    open_and_close(lots["a"], T0, T0 + 30_000)
    step = plan(sale, T0, lots, T0 + 30_000)
    assert step.open_now == () and step.wake_at == T0 + 32_000
    assert plan(sale, T0, lots, T0 + 32_000).open_now == ("b",)


def test_a_plan_counts_a_lot_kept_out_of_memory_as_closed_when_its_summary_says() -> None:
    """The house keeps no closed lot (engine/closed.py): missing from ``lots`` it is closed,
    and a live sale's gap counts from ``closed_at``, as it did from the lot itself."""
    sale, lots = make()
    open_and_close(lots["a"], T0, T0 + 30_000)
    whole = plan(sale, T0, lots, T0 + 30_000)
    del lots["a"]
    assert plan(sale, T0, lots, T0 + 30_000, {"a": T0 + 30_000}) == whole
    assert whole.wake_at == T0 + 32_000
    assert plan(sale, T0, lots, T0 + 32_000, {"a": T0 + 30_000}).open_now == ("b",)
    open_and_close(lots["b"], T0 + 32_000, T0 + 40_000)
    del lots["b"]  # the next lot counts from the last closed before it, not the first
    step = plan(sale, T0, lots, T0 + 40_000, {"a": T0 + 30_000, "b": T0 + 40_000})
    assert step.wake_at == T0 + 42_000
    open_and_close(lots["c"], T0 + 42_000, T0 + 50_000)
    assert plan(sale, T0, lots, T0 + 50_000, {}).ended
    assert plan(sale, T0, {}, T0 + 50_000).ended
    timed, timed_lots = make("timed")
    del timed_lots["a"]
    assert plan(timed, T0, timed_lots, T0).open_now == ("b", "c")


def test_live_sale_waits_for_the_open_lot() -> None:
    sale, lots = make()
    opened = lots["a"].decide_open(T0)
    assert not isinstance(opened, Refusal)
    lots["a"].apply(opened)
    assert plan(sale, T0, lots, T0 + 100) == plan(sale, T0, lots, T0 + 1)
    assert plan(sale, T0, lots, T0 + 100).open_now == ()


def test_timed_sale_opens_everything_and_ends_when_all_closed() -> None:
    sale, lots = make("timed")
    assert plan(sale, T0, lots, T0).open_now == ("a", "b", "c")
    for lot in lots.values():
        open_and_close(lot, T0, T0 + 10)
    assert plan(sale, T0, lots, T0 + 10).ended


def status(sale: Sale) -> str:
    """Read afresh each time (mypy would narrow the property across ``apply``)."""
    return sale.status


def test_a_sale_changes_only_by_its_events_and_says_its_status_once() -> None:
    spec = SaleSpec("s", "Sale", ("a",), held=True)
    sale = Sale(spec)
    assert status(sale) == "held"
    assert sale.decide_start(1_000) is None  # held: waits for an admin
    assert isinstance(sale.decide_pause(1_000, "root"), Refusal)
    sale = Sale(SaleSpec("s", "Sale", ("a",), starts_at=5_000))
    assert status(sale) == "scheduled"
    assert sale.decide_start(4_999) is None and sale.starts_at(4_999) == 5_000
    started = sale.decide_start(5_000)
    assert started is not None and status(sale) == "scheduled"  # a decision changes nothing
    sale.apply(started)
    assert status(sale) == "running" and sale.started_at == 5_000
    paused = sale.decide_pause(6_000, "root")
    assert not isinstance(paused, Refusal)
    sale.apply(paused)
    assert status(sale) == "paused"
    assert isinstance(sale.decide_pause(6_500, "root"), Refusal)
    resumed = sale.decide_resume(7_000, "root")
    assert not isinstance(resumed, Refusal)
    sale.apply(resumed)
    assert status(sale) == "running"
    ended = sale.decide_end(8_000, "cancelled")
    assert not isinstance(ended, Refusal) and ended.reason == "cancelled"
    sale.apply(ended)
    assert status(sale) == "ended" and isinstance(sale.decide_end(9_000), Refusal)
    assert sale.decide_start(9_000) is None


def test_replaying_a_sales_events_rebuilds_it() -> None:
    spec = SaleSpec("s", "Sale", ("a",))
    live = Sale(spec)
    events: list[SaleEvent] = []
    steps: list[Callable[[Sale], SaleEvent | Refusal | None]] = [
        lambda s: s.decide_start(100),
        lambda s: s.decide_pause(200, "root"),
        lambda s: s.decide_resume(300, "root"),
        lambda s: s.decide_end(400),
    ]
    for decide in steps:
        event = decide(live)
        assert event is not None and not isinstance(event, Refusal)
        live.apply(event)
        events.append(event)
    replayed = Sale(spec)
    for event in events:
        replayed.apply(event)
    assert replayed == live


def test_a_sales_events_are_a_stream_of_their_own_each_at_the_next_seq() -> None:
    sale = Sale(SaleSpec("s", "Sale", ("a",)))
    started = sale.decide_start(100)
    assert started is not None and (started.sale, started.seq, sale.seq) == ("s", 1, 0)
    sale.apply(started)
    paused = sale.decide_pause(200, "root")
    assert isinstance(paused, SalePaused) and (paused.seq, sale.seq) == (2, 1)
    with pytest.raises(ValueError, match="does not follow"):
        sale.apply(SalePaused("s", 3, "root", 200))  # seq 2 skipped
    with pytest.raises(ValueError, match="does not follow"):
        sale.apply(SalePaused("t", 2, "root", 200))  # another sale's
    with pytest.raises(ValueError, match="does not follow"):
        sale.apply(started)  # twice
    assert (sale.seq, sale.status) == (1, "running")
    sale.apply(paused)
    resumed = sale.decide_resume(300, "root")
    assert not isinstance(resumed, Refusal) and resumed.seq == 3
    sale.apply(resumed)
    ended = sale.decide_end(400, "cancelled")
    assert isinstance(ended, SaleEnded) and ended.seq == 4
    sale.apply(ended)
    assert (sale.seq, sale.status) == (4, "ended")
