from bidwire.domain.events import LotClosed
from bidwire.domain.lot import Lot, LotSpec, Refusal
from bidwire.domain.sale import SaleSpec, plan

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
