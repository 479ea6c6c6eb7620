import pytest

from bidwire.domain.money import (
    DEFAULT_INCREMENTS,
    FixedIncrement,
    TieredIncrement,
    format_amount,
    parse_units,
)


@pytest.mark.parametrize(
    ("text", "minor"), [("150", 15000), ("150.5", 15050), ("0.01", 1), ("1,000", 100000)]
)
def test_parse_units(text: str, minor: int) -> None:
    assert parse_units(text, "USD") == minor


@pytest.mark.parametrize("text", ["abc", "-5", "1.001", "1e400", "nan", "inf", "10000000000000000"])
def test_parse_units_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_units(text, "USD")


def test_zero_decimal_currency() -> None:
    assert parse_units("1500", "JPY") == 1500
    with pytest.raises(ValueError, match="decimal"):
        parse_units("15.5", "JPY")
    assert format_amount(1500, "JPY") == "1,500 JPY"
    assert format_amount(123456, "USD") == "1,234.56 USD"


def test_tiered_table_steps_up_with_price() -> None:
    assert DEFAULT_INCREMENTS.after(50) == 5
    assert DEFAULT_INCREMENTS.after(10_000) == 250
    assert DEFAULT_INCREMENTS.after(9_999) == 100
    assert DEFAULT_INCREMENTS.after(10**9) == 10_000


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        TieredIncrement(((100, 5),))
    with pytest.raises(ValueError):
        TieredIncrement(((0, 5), (0, 10)))
    with pytest.raises(ValueError):
        FixedIncrement(0)


@pytest.mark.parametrize(
    ("text", "minor"),
    [("1,250.00", 125_000), ("1,250", 125_000), ("12,345,678.90", 1_234_567_890), (".5", 50)],
)
def test_thousands_separators_only_where_they_group_thousands(text: str, minor: int) -> None:
    assert parse_units(text, "USD") == minor


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("250,00", "250.00"),  # a decimal comma: 250.00, or 25,000? refused, never guessed
        ("60,5", "a point for decimals"),
        ("1,2345", "a point for decimals"),
        ("12,50.00", "a point for decimals"),
        ("1e3", "in full"),
        ("2E2", "in full"),
        ("1_000", "not a number"),
    ],
)
def test_an_amount_a_person_could_mean_two_ways_is_refused_with_how_to_type_it(
    text: str, hint: str
) -> None:
    with pytest.raises(ValueError, match=hint.replace(".", r"\.")):
        parse_units(text, "USD")
