"""Catalogs: sales and lots from TOML, JSON or CSV, in currency units a person writes.

Prices are written in whole or decimal currency units (``starting_price = 100`` is 100.00);
they are stored in minor units. Every bad row is reported with its line number.

JSON / TOML::

    [[sales]]
    title = "Spring sale"        # id, mode ("live" or "timed"), gap_seconds are optional
    [[sales.lots]]
    title = "Vintage Watch"
    starting_price = 100         # description, currency, reserve, increment, opening_seconds,
                                 # extend_seconds, hard_end_seconds, buy_now, id are optional
    estimate_low = 800           # the estimate shown to bidders (either end optional;
    estimate_high = 1200         # low <= high), in currency units like every price

A top-level ``lots`` list is one live sale. CSV: one lot a row, with a header naming the same
fields; a ``sale`` column groups rows into sales (one sale if absent).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bidwire.domain.lot import LotSpec
from bidwire.domain.money import (
    DEFAULT_INCREMENTS,
    FixedIncrement,
    IncrementRule,
    TieredIncrement,
    parse_units,
)
from bidwire.domain.sale import SaleSpec
from bidwire.errors import CatalogError

LOT_FIELDS = {
    "id",
    "title",
    "description",
    "currency",
    "starting_price",
    "reserve",
    "increment",
    "opening_seconds",
    "extend_seconds",
    "hard_end_seconds",
    "buy_now",
    "estimate_low",
    "estimate_high",
    "sale",
}
MONEY_FIELDS = ("reserve", "buy_now", "estimate_low", "estimate_high")
"""The optional prices of a row: empty or absent is none."""
MAX_LOTS = 100_000


@dataclass(frozen=True, slots=True)
class Defaults:
    opening_seconds: float = 30.0
    extend_seconds: float = 10.0
    gap_seconds: float = 2.0
    currency: str = "USD"


Catalog = list[tuple[SaleSpec, list[LotSpec]]]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "lot"


def _seconds(value: Any, name: str) -> int:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds") from None
    if not 0 < seconds <= 86_400 * 365:
        raise ValueError(f"{name} must be positive")
    return round(seconds * 1000)


def _increment(value: Any, currency: str) -> IncrementRule:
    if value in (None, "", "default"):
        return DEFAULT_INCREMENTS
    if isinstance(value, list):
        return TieredIncrement(
            tuple((parse_units(a, currency), parse_units(b, currency)) for a, b in value)
        )
    return FixedIncrement(parse_units(value, currency))


def lot_from_row(row: Mapping[str, Any], defaults: Defaults, taken: set[str]) -> LotSpec:
    unknown = set(row) - LOT_FIELDS
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    title = str(row.get("title") or "").strip()
    if not title:
        raise ValueError("title is required")
    currency = str(row.get("currency") or defaults.currency).strip().upper()
    if "starting_price" not in row or row["starting_price"] in (None, ""):
        raise ValueError("starting_price is required")
    lot_id = str(row.get("id") or "").strip() or slug(title)
    base, n = lot_id, 2
    while lot_id in taken:
        lot_id, n = f"{base}-{n}", n + 1
    taken.add(lot_id)
    hard_end = row.get("hard_end_seconds")
    return LotSpec(
        id=lot_id,
        title=title,
        description=str(row.get("description") or ""),
        currency=currency,
        starting_price=parse_units(row["starting_price"], currency),
        increment=_increment(row.get("increment"), currency),
        opening_ms=_seconds(row.get("opening_seconds") or defaults.opening_seconds, "opening"),
        extend_ms=_seconds(row.get("extend_seconds") or defaults.extend_seconds, "extend"),
        hard_end_ms=None if hard_end in (None, "") else _seconds(hard_end, "hard_end_seconds"),
        reserve=_price(row, "reserve", currency),
        buy_now=_price(row, "buy_now", currency),
        estimate_low=_price(row, "estimate_low", currency),
        estimate_high=_price(row, "estimate_high", currency),
    )


def _price(row: Mapping[str, Any], name: str, currency: str) -> int | None:
    """An optional price of a row in minor units (none when absent or empty); a bad one is
    refused with the field's name, so a person knows which column to fix."""
    value = row.get(name)
    if value in (None, ""):
        return None
    try:
        return parse_units(value, currency)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def edited_lot(spec: LotSpec, row: Mapping[str, Any], defaults: Defaults) -> LotSpec:
    """``spec`` with the fields ``row`` gives (a catalog row's units), the others kept.
    Checked as a whole, as a new lot is."""
    unknown = set(row) - (LOT_FIELDS - {"id", "sale"})
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    currency = str(row.get("currency") or spec.currency).strip().upper()

    def money(name: str, *, required: bool = False) -> int | None:
        if required and row[name] in (None, ""):
            raise ValueError(f"{name} is required")
        return _price(row, name, currency)

    changes: dict[str, Any] = {"currency": currency}
    if "title" in row:
        changes["title"] = str(row["title"] or "").strip()
        if not changes["title"]:
            raise ValueError("title is required")
    if "description" in row:
        changes["description"] = str(row["description"] or "")
    for name in ("starting_price", *MONEY_FIELDS):
        if name in row:
            changes[name] = money(name, required=name == "starting_price")
    if "increment" in row:
        changes["increment"] = _increment(row["increment"], currency)
    for name, field, default in (
        ("opening_seconds", "opening_ms", defaults.opening_seconds),
        ("extend_seconds", "extend_ms", defaults.extend_seconds),
    ):
        if name in row:
            changes[field] = _seconds(row[name] or default, name.split("_")[0])
    if "hard_end_seconds" in row:
        hard_end = row["hard_end_seconds"]
        changes["hard_end_ms"] = (
            None if hard_end in (None, "") else _seconds(hard_end, "hard_end_seconds")
        )
    return dataclasses.replace(spec, **changes)


def parse_catalog(text: str, fmt: str, defaults: Defaults, source: str = "catalog") -> Catalog:
    fmt = fmt.lower().lstrip(".")
    if fmt == "csv":
        return _parse_csv(text, defaults, source)
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        # tomllib (3.11) has no lineno attribute; its message says "(at line N, column M)"
        found = re.search(r"line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else 0)
        raise CatalogError(source, [(line, f"not valid {fmt.upper()}: {exc}")]) from None
    if not isinstance(data, dict):
        raise CatalogError(source, [(1, "the catalog must be an object with sales or lots")])
    sales = data.get("sales")
    if sales is None and "lots" in data:
        sales = [{"title": data.get("title", "Sale"), "lots": data["lots"]}]
    if not isinstance(sales, list) or not sales:
        raise CatalogError(source, [(1, "the catalog has no sales or lots")])
    return _build(sales, defaults, source, line_of=lambda s, i: i + 1)


def _parse_csv(text: str, defaults: Defaults, source: str) -> Catalog:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise CatalogError(source, [(1, "the CSV file is empty")])
    groups: dict[str, list[dict[str, Any]]] = {}
    lines: dict[int, int] = {}
    premiums: dict[str, str] = {}
    problems: list[tuple[int, str]] = []
    count = 0
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        sale = clean.pop("sale", "") or "Sale"
        premium = clean.pop("buyers_premium", "")
        # a sale's premium, on any of its rows (the rows that give one must agree)
        if premium and premiums.setdefault(sale, premium) != premium:
            problems.append((reader.line_num, f"sale {sale!r} has two buyer's premiums"))
        groups.setdefault(sale, []).append(clean)
        lines[id(clean)] = reader.line_num
        count += 1
    if not count:
        raise CatalogError(source, [(1, "the CSV file has no lots")])
    if problems:
        raise CatalogError(source, problems)
    sales = [
        {"title": title, "lots": lots}
        | ({"buyers_premium": premiums[title]} if title in premiums else {})
        for title, lots in groups.items()
    ]
    return _build(sales, defaults, source, line_of=lambda lot, i: lines[id(lot)])


def _build(
    sales: list[Any],
    defaults: Defaults,
    source: str,
    line_of: Any,
    taken_lots: set[str] | None = None,
    taken_sales: set[str] | None = None,
) -> Catalog:
    problems: list[tuple[int, str]] = []
    catalog: Catalog = []
    taken: set[str] = set(taken_lots or ())
    sale_ids: set[str] = set(taken_sales or ())
    total = 0
    for sale_index, sale in enumerate(sales):
        if not isinstance(sale, dict) or not isinstance(sale.get("lots"), list):
            problems.append((sale_index + 1, "each sale needs a list of lots"))
            continue
        lots: list[LotSpec] = []
        for index, row in enumerate(sale["lots"]):
            total += 1
            if total > MAX_LOTS:
                raise CatalogError(source, [(0, f"more than {MAX_LOTS} lots")])
            if not isinstance(row, dict):
                problems.append((index + 1, "a lot must be a table/object"))
                continue
            try:
                lots.append(lot_from_row(row, defaults, taken))
            except (ValueError, TypeError) as exc:
                where = line_of(row, index)
                title = row.get("title") or "?"
                problems.append((where, f"lot {str(title)[:40]!r}: {exc}"))
        title = str(sale.get("title") or f"Sale {sale_index + 1}")
        sale_id = str(sale.get("id") or slug(title))
        base, n = sale_id, 2
        while sale_id in sale_ids:
            sale_id, n = f"{base}-{n}", n + 1
        sale_ids.add(sale_id)
        try:
            gap = sale.get("gap_seconds", defaults.gap_seconds)
            spec = SaleSpec(
                id=sale_id,
                title=title,
                lot_ids=tuple(lot.id for lot in lots),
                mode=sale.get("mode", "live"),
                gap_ms=round(float(gap) * 1000),
                anonymous=bool(sale.get("anonymous", False)),
                buyers_premium=_premium(sale.get("buyers_premium")),
            )
        except (ValueError, TypeError) as exc:
            if lots:
                problems.append((sale_index + 1, f"sale {title!r}: {exc}"))
            continue
        catalog.append((spec, lots))
    if problems:
        raise CatalogError(source, problems)
    return catalog


def _premium(value: object) -> float:
    """A sale's buyer's premium as a catalog gives it (a fraction: 0.2, or "0.2" in CSV); none
    is 0. SaleSpec checks the range."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise ValueError("buyer's premium must be a number from 0 to 1 (0.2 is 20%)")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("buyer's premium must be a number from 0 to 1 (0.2 is 20%)") from None


def load_catalog(path: str | Path, defaults: Defaults) -> Catalog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(str(path), [(0, f"cannot read: {exc}")]) from None
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("toml", "json", "csv"):
        raise CatalogError(str(path), [(0, "use a .toml, .json or .csv file")])
    return parse_catalog(text, fmt, defaults, str(path))


DEMO_LOTS = [
    ("Vintage Watch", "A 1960s mechanical wristwatch, serviced and running.", 100),
    ("Antique Vase", "A hand-painted porcelain vase, about a century old.", 50),
    ("Classic Car", "A restored two-seat roadster with a rebuilt engine.", 5000),
    ("Gaming Laptop", "A 16-inch laptop with a current graphics card.", 1500),
    ("Smartphone", "An unlocked flagship phone, boxed.", 700),
]
DEMO_BUY_NOW = {"Classic Car": 9000}
"""One sample item offers buy-now, so a newcomer sees it (until the first bid on it)."""
DEMO_ESTIMATES = {
    "Vintage Watch": (150, 250),
    "Antique Vase": (80, 120),
    "Classic Car": (7000, 9000),
    "Gaming Laptop": (1600, 2000),
    "Smartphone": (750, 900),
}
"""What the house expects each sample to fetch, shown beside it as in a printed catalogue."""


def demo_catalog(
    defaults: Defaults, taken_lots: set[str] | None = None, taken_sales: set[str] | None = None
) -> Catalog:
    """The five sample items of the original design, in one live sale; ids already taken by an
    earlier demo get a suffix, so every ``make run`` has the items on the block again."""
    rows = [
        {"title": t, "description": d, "starting_price": p, "id": slug(t)}
        | ({"buy_now": DEMO_BUY_NOW[t]} if t in DEMO_BUY_NOW else {})
        | dict(zip(("estimate_low", "estimate_high"), DEMO_ESTIMATES[t], strict=True))
        for t, d, p in DEMO_LOTS
    ]
    return _build(
        [{"title": "Demo sale", "id": "demo", "lots": rows, "gap_seconds": defaults.gap_seconds}],
        defaults,
        "demo",
        lambda r, i: i + 1,
        taken_lots,
        taken_sales,
    )
