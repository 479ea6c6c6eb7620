"""Money is an int count of minor units; increments say how far the next bid must go."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

MAX_AMOUNT = 10**15
"""The largest amount anyone may bid or set, in minor units (protocol.md)."""

# ISO 4217 minor-unit exponents that differ from the usual 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_amount(minor: int, currency: str) -> str:
    """``12500, "USD"`` -> ``"125.00 USD"``."""
    exp = exponent(currency)
    if exp == 0:
        return f"{minor:,} {currency}"
    whole, frac = divmod(minor, 10**exp)
    return f"{whole:,}.{frac:0{exp}d} {currency}"


_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)?(?:\.\d*)?")
"""Digits, commas only between groups of three before the point, one decimal point."""
_EXPONENT = re.compile(r"[+-]?[\d.,]+[eE][+-]?\d+")


def parse_units(text: str | int | float, currency: str) -> int:
    """Whole or decimal currency units (``"150"``, ``"12.5"``, ``"1,250.00"``) -> minor units.

    Money is never guessed: a comma that is not between thousands (``"250,00"``: 250.00, or
    25,000?) and an exponent (``"1e3"``) are refused, with how to type the amount.
    Raises ValueError with a message a person understands.
    """
    if isinstance(text, str):
        typed = text.strip()
        if _EXPONENT.fullmatch(typed):
            raise ValueError(f"{text!r} has an exponent: type the amount in full, such as 1000")
        if not _PLAIN_NUMBER.fullmatch(typed) or not any(c.isdigit() for c in typed):
            if "," in typed and _PLAIN_NUMBER.fullmatch(typed.replace(",", "")):
                decimal = typed.replace(",", ".")
                point = re.fullmatch(r"[+-]?\d*\.\d+", decimal)
                shown = decimal if point else "such as 250.00"
                raise ValueError(
                    f"{text!r} is unclear: use a point for decimals ({shown}) and commas"
                    " only between thousands (1,250.00)"
                )
            raise ValueError(f"{text!r} is not a number")
        text = typed.replace(",", "")
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    exp = exponent(currency)
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} amounts have at most {exp} decimal places")
    minor = int(scaled)
    if minor < 0:
        raise ValueError("amounts cannot be negative")
    if minor > MAX_AMOUNT:
        raise ValueError("amount is too large")
    return minor


@dataclass(frozen=True, slots=True)
class FixedIncrement:
    """Every bid must beat the last one by the same step."""

    step: int

    def __post_init__(self) -> None:
        if not 0 < self.step <= MAX_AMOUNT:
            raise ValueError("increment step must be a positive amount")

    def after(self, amount: int) -> int:
        return self.step


@dataclass(frozen=True, slots=True)
class TieredIncrement:
    """A table of ``(from_amount, step)`` rows: the step grows with the price, as in the
    salerooms' published increment tables. Rows ascend and the first starts at 0."""

    tiers: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.tiers or self.tiers[0][0] != 0:
            raise ValueError("the first increment tier must start at 0")
        froms = [f for f, _ in self.tiers]
        if froms != sorted(set(froms)):
            raise ValueError("increment tiers must ascend")
        if any(not 0 < step <= MAX_AMOUNT for _, step in self.tiers):
            raise ValueError("increment steps must be positive amounts")

    def after(self, amount: int) -> int:
        step = self.tiers[0][1]
        for start, tier_step in self.tiers:
            if amount < start:
                break
            step = tier_step
        return step


IncrementRule = FixedIncrement | TieredIncrement

# The common auction-house table (in cents): 0.05 under 1, 0.25 under 5, ... 100 from 5,000.
DEFAULT_INCREMENTS = TieredIncrement(
    (
        (0, 5),
        (100, 25),
        (500, 50),
        (2_500, 100),
        (10_000, 250),
        (25_000, 500),
        (50_000, 1_000),
        (100_000, 2_500),
        (250_000, 5_000),
        (500_000, 10_000),
    )
)
