"""A sale's report as one picture, for ``bidwire report SALE --chart FILE.png|svg``.

Three panels, top to bottom: the price of each lot over time (its bids that count: voided
ones left out, as the report leaves them out), each lot's hammer against its catalog estimate
with the sale's sell-through in the heading, and the sale's bids over time.

Principles:
- Two pure steps, tested without a server: ``chart_data`` turns what the server answered (the
  report, the admins' bid histories, the lots' estimates) into ``ChartData``; ``draw`` turns
  that into a matplotlib ``Figure``. Neither reads a clock, a file or the network; ``save``
  writes the file.
- No screen: a ``Figure`` with the Agg canvas (never pyplot), so it runs on a server or in CI.
- SVG keeps its words as text (``svg.fonttype: none``), so a title can be searched and read
  by a screen reader, and the file stays small.
- Money stays int minor units until drawn: the axes show major units of the lot's currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bidwire.domain.money import exponent

ChartFormat = Literal["png", "svg"]
FORMATS: tuple[ChartFormat, ...] = ("png", "svg")

MAX_LINES = 10
"""Lots drawn in colour, with a legend entry, in the price panel (the busiest ones; ten, the
colours of matplotlib's cycle, so no two share one); the others are drawn thin and grey, so a
sale of a hundred lots stays readable."""
MAX_ROWS = 150
"""Lots shown in the estimate panel (in catalogue order); the heading says when there are more."""
LOG_RATIO = 30
"""Money axes turn logarithmic when their largest amount is this many times their smallest:
one lot that made 40 times the others otherwise squeezes them all against zero."""
MAX_BUCKETS = 240
"""Bars at most in the bids-over-time panel: the bucket grows (1 min, 5, 15, 1 h, ...)."""
BUCKETS_MS = (60_000, 300_000, 900_000, 3_600_000, 6 * 3_600_000, 86_400_000, 7 * 86_400_000)
TITLE_CHARS = 40

BAND_COLOURS = {"below": "#c0392b", "within": "#1e8449", "above": "#1f5fa8", None: "#555555"}


class ChartError(ValueError):
    """A chart that cannot be made as asked (the file's name): said in words."""


def chart_format(path: str | Path) -> ChartFormat:
    """The format a file's name asks for; anything but .png and .svg is refused in words."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "png":
        return "png"
    if suffix == "svg":
        return "svg"
    shown = f"'.{suffix}'" if suffix else "no extension"
    raise ChartError(f"a chart is a .png or .svg file; {str(path)!r} has {shown}")


@dataclass(frozen=True, slots=True)
class PricePoint:
    ts: int
    amount: int


@dataclass(frozen=True, slots=True)
class LotChart:
    """One lot as the chart shows it."""

    lot: str
    title: str
    currency: str
    outcome: str
    reason: str | None
    hammer: int | None
    estimate_low: int | None
    estimate_high: int | None
    estimate: str | None
    """The report's band of the hammer against the estimate (below/within/above) or None."""
    prices: tuple[PricePoint, ...]
    """Its bids that count, oldest first."""

    @property
    def high(self) -> int | None:
        """The hammer of a sold lot, else the highest bid that counts (None without bids)."""
        if self.hammer is not None:
            return self.hammer
        return max((p.amount for p in self.prices), default=None)


@dataclass(frozen=True, slots=True)
class ChartData:
    sale: str
    title: str
    sold: int
    offered: int
    """Lots offered: all but the withdrawn ones (the report's sell_through_lots' divisor)."""
    sell_through_lots: float
    lots: tuple[LotChart, ...]
    bids_over_time: tuple[tuple[int, int], ...] = field(default=())
    """(bucket start ms, bids) in time order, every bucket from the first to the last."""
    bucket_ms: int = 60_000


def bucket_width(first_ms: int, last_ms: int) -> int:
    """The smallest of ``BUCKETS_MS`` that covers the span in ``MAX_BUCKETS`` bars or fewer."""
    span = max(0, last_ms - first_ms)
    for width in BUCKETS_MS:
        if span // width < MAX_BUCKETS:
            return width
    return BUCKETS_MS[-1]


def bucketed(counts: Iterable[tuple[int, int]]) -> tuple[tuple[tuple[int, int], ...], int]:
    """(ms, bids) pairs (a bid each, or the report's per-minute counts) as bars of one width,
    empty buckets included, so the axis has no gaps that look like data."""
    pairs = sorted(counts)
    if not pairs:
        return (), BUCKETS_MS[0]
    width = bucket_width(pairs[0][0], pairs[-1][0])
    first = pairs[0][0] - pairs[0][0] % width
    bars = [0] * ((pairs[-1][0] - first) // width + 1)
    for ts, n in pairs:
        bars[(ts - first) // width] += n
    return tuple((first + i * width, n) for i, n in enumerate(bars)), width


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def chart_data(
    report: Mapping[str, Any],
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    estimates: Mapping[str, Mapping[str, Any]],
) -> ChartData:
    """The chart of a sale from the server's answers: ``report`` as GET
    /api/admin/sales/{id}/report gives it, ``histories`` each lot's bids as the admins' bid
    history lists them (any order; voided ones are left out), ``estimates`` each lot's
    ``estimate_low``/``estimate_high`` (its public state, or the report's per_lot row)."""
    lots: list[LotChart] = []
    every_bid: list[tuple[int, int]] = []
    for row in report["per_lot"]:
        lot_id = str(row["lot"])
        counted = sorted(
            (int(b["ts"]), int(b["amount"]))
            for b in histories.get(lot_id, ())
            if not b.get("voided", False)
        )
        every_bid += [(ts, 1) for ts, _ in counted]
        known = estimates.get(lot_id, row)
        lots.append(
            LotChart(
                lot=lot_id,
                title=str(row.get("title") or lot_id),
                currency=str(row["currency"]),
                outcome=str(row["outcome"]),
                reason=row.get("reason"),
                hammer=_int_or_none(row.get("hammer")),
                estimate_low=_int_or_none(known.get("estimate_low")),
                estimate_high=_int_or_none(known.get("estimate_high")),
                estimate=row.get("estimate"),
                prices=tuple(PricePoint(ts, amount) for ts, amount in counted),
            )
        )
    per_minute = report.get("bids_per_minute")
    if per_minute:
        bars, width = bucketed((int(m["minute"]), int(m["bids"])) for m in per_minute)
    else:
        bars, width = bucketed(every_bid)
    return ChartData(
        sale=str(report["sale"]),
        title=str(report.get("title") or report["sale"]),
        sold=int(report["sold"]),
        offered=int(report["lots"]) - int(report["withdrawn"]),
        sell_through_lots=float(report["sell_through_lots"]),
        lots=tuple(lots),
        bids_over_time=bars,
        bucket_ms=width,
    )


def _short(text: str, most: int = TITLE_CHARS) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _when(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _major(minor: int, currency: str) -> float:
    scale: int = 10 ** exponent(currency)
    return minor / scale


def _money_label(lots: Sequence[LotChart]) -> str:
    currencies = sorted({lot.currency for lot in lots})
    if len(currencies) == 1:
        return f"price ({currencies[0]})"
    return "price (each lot's currency)"


def _width_words(width_ms: int) -> str:
    if width_ms % 86_400_000 == 0:
        days = width_ms // 86_400_000
        return "day" if days == 1 else f"{days} days"
    if width_ms % 3_600_000 == 0:
        hours = width_ms // 3_600_000
        return "hour" if hours == 1 else f"{hours} hours"
    minutes = width_ms // 60_000
    return "minute" if minutes == 1 else f"{minutes} minutes"


def _row_label(lot: LotChart) -> str:
    """A lot's title, and why it did not sell (a sold lot's dot says the rest)."""
    if lot.outcome == "sold":
        return _short(lot.title)
    words = (lot.reason or lot.outcome).replace("_", " ")
    return f"{_short(lot.title, TITLE_CHARS - len(words) - 3)} – {words}"


def _amounts(lot: LotChart) -> list[int]:
    found = [lot.high, lot.estimate_low, lot.estimate_high]
    return [a for a in found if a is not None]


def _money_scale(set_scale: Any, amounts: Sequence[int]) -> None:
    positive = [a for a in amounts if a > 0]
    if positive and max(positive) >= LOG_RATIO * min(positive):
        set_scale("log")


def one_currency(lots: Sequence[LotChart]) -> tuple[list[LotChart], str]:
    """The lots the money panels draw, and what their headings add. A sale in several
    currencies draws those of the one with the most lots (the first in the catalogue on a
    tie): one axis cannot hold $250 and ¥40,000. The table, --json and --csv keep every lot."""
    counts: dict[str, int] = {}
    for lot in lots:
        counts[lot.currency] = counts.get(lot.currency, 0) + 1
    if len(counts) < 2:
        return list(lots), ""
    main = max(counts, key=lambda c: counts[c])  # max keeps the first of equals
    others = ", ".join(f"{n} in {c}" for c, n in counts.items() if c != main)
    return [lot for lot in lots if lot.currency == main], f" ({main} lots; {others} not drawn)"


def draw(data: ChartData) -> Any:
    """The figure (a matplotlib ``Figure`` on the Agg canvas; nothing shown on a screen)."""
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    money, money_note = one_currency(data.lots)
    rows = money[:MAX_ROWS]
    estimate_height = max(2.6, (0.3 if len(rows) <= 40 else 0.2) * len(rows) + 1.2)
    figure = Figure(figsize=(11, 3.6 + estimate_height + 3.0), layout="constrained")
    FigureCanvasAgg(figure)
    prices, estimates, over_time = figure.subplots(3, 1, height_ratios=[3.6, estimate_height, 3.0])
    figure.suptitle(f"{data.title} ({data.sale})", fontsize=14, fontweight="bold")
    over_time.sharex(prices)  # one time axis for the prices and the bids

    def time_axis(axes: Any) -> None:
        # a locator per axes: one shared between two draws the ticks of neither
        locator = dates.AutoDateLocator()  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]

    # 1. price over time, per lot: a step line (a price holds until the next bid)
    busiest = sorted(money, key=lambda lot: -len(lot.prices))[:MAX_LINES]
    coloured = {lot.lot for lot in busiest if lot.prices}
    drawn = 0
    for lot in money:
        if not lot.prices:
            continue
        xs = [_when(p.ts) for p in lot.prices]
        ys = [_major(p.amount, lot.currency) for p in lot.prices]
        if lot.lot in coloured:
            prices.step(xs, ys, where="post", linewidth=1.6, label=_short(lot.title, 28))
            prices.plot(xs[-1:], ys[-1:], "o", markersize=4, color=prices.lines[-1].get_color())
        else:
            prices.step(xs, ys, where="post", linewidth=0.7, color="#bbbbbb", zorder=1)
        drawn += 1
    others = drawn - len(coloured)
    heading = f"Price over time, per lot (bids that count){money_note}"
    if others > 0:
        heading += f": the {len(coloured)} busiest in colour, {others} more in grey"
    prices.set_title(heading, loc="left", fontsize=11)
    _money_scale(prices.set_yscale, [p.amount for lot in money for p in lot.prices])
    prices.set_ylabel(_money_label(money))
    time_axis(prices)
    prices.grid(True, alpha=0.3)
    if coloured:
        prices.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        prices.text(0.5, 0.5, "no bids yet", ha="center", va="center", transform=prices.transAxes)

    # 2. hammer against estimate: the estimate a grey band, the hammer a dot in its band's
    # colour; an unsold lot's best bid a hollow mark, its reason after its title
    positions = list(range(len(rows)))
    for y, lot in zip(positions, rows, strict=True):
        low, high = lot.estimate_low, lot.estimate_high
        if low is not None and high is not None:
            start, end = _major(low, lot.currency), _major(high, lot.currency)
            estimates.barh(y, end - start, left=start, height=0.5, color="#dddddd")
        for one_end in (low,) if high is None else (high,) if low is None else ():
            if one_end is not None:  # an estimate with one end: a mark at it
                estimates.plot(_major(one_end, lot.currency), y, "|", color="#999999", ms=12)
        best = lot.high
        if lot.outcome == "sold" and best is not None:
            colour = BAND_COLOURS.get(lot.estimate, BAND_COLOURS[None])
            estimates.plot(_major(best, lot.currency), y, "o", color=colour, markersize=7)
        elif best is not None:
            estimates.plot(
                _major(best, lot.currency), y, "o", mfc="none", color="#555555", markersize=7
            )
    estimates.set_yticks(positions, [_row_label(lot) for lot in rows], fontsize=8)
    _money_scale(estimates.set_xscale, [a for lot in rows for a in _amounts(lot)])
    estimates.set_ylim(len(rows) - 0.5, -0.5)
    estimates.set_xlabel(_money_label(rows).replace("price", "hammer"))
    estimates.grid(True, axis="x", alpha=0.3)
    share = f"{data.sell_through_lots:.0%}"
    heading = (
        f"Hammer against estimate: sell-through {share} ({data.sold} of {data.offered} offered)"
    )
    if len(money) > len(rows):
        heading += f"; the first {len(rows)} of {len(money)} lots"
    heading += money_note
    estimates.set_title(heading, loc="left", fontsize=11)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    key = [
        Patch(color="#dddddd", label="estimate"),
        *(
            Line2D([], [], marker="o", linestyle="", color=BAND_COLOURS[band], label=words)
            for band, words in (
                ("below", "sold below"),
                ("within", "sold within"),
                ("above", "sold above"),
            )
        ),
        Line2D([], [], marker="o", linestyle="", mfc="none", color="#555555", label="unsold"),
    ]
    estimates.legend(
        handles=key, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )

    # 3. bids over time
    if data.bids_over_time:
        xs = [_when(ms) for ms, _ in data.bids_over_time]
        width_days = data.bucket_ms / 86_400_000
        over_time.bar(
            xs,
            [n for _, n in data.bids_over_time],
            width=width_days,
            align="edge",
            color="#1f5fa8",
        )
        time_axis(over_time)
        over_time.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        over_time.text(
            0.5, 0.5, "no bids yet", ha="center", va="center", transform=over_time.transAxes
        )
    total = sum(n for _, n in data.bids_over_time)
    over_time.set_title(
        f"Bids over time: {total} bids, per {_width_words(data.bucket_ms)} (UTC)",
        loc="left",
        fontsize=11,
    )
    over_time.set_ylabel("bids")
    over_time.grid(True, axis="y", alpha=0.3)
    return figure


def save(figure: Any, path: str | Path) -> ChartFormat:
    """Write the figure to ``path`` in the format its name asks for; returns the format."""
    import matplotlib

    fmt = chart_format(path)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "bidwire"}):
        figure.savefig(str(path), format=fmt, dpi=110, metadata=_metadata(fmt), bbox_inches="tight")
    return fmt


def _metadata(fmt: ChartFormat) -> dict[str, Any]:
    # no creation date in the file: the same report gives the same bytes
    return {"Date": None} if fmt == "svg" else {}
