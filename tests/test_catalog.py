import pytest

from bidwire.catalog import Defaults, demo_catalog, edited_lot, parse_catalog
from bidwire.domain.money import FixedIncrement
from bidwire.errors import CatalogError

D = Defaults()


def test_toml_catalog() -> None:
    text = """
[[sales]]
title = "Spring"
mode = "timed"
[[sales.lots]]
title = "Vintage Watch"
starting_price = 100
reserve = "250.50"
increment = 5
opening_seconds = 60
"""
    [(sale, lots)] = parse_catalog(text, "toml", D)
    assert sale.mode == "timed" and sale.lot_ids == ("vintage-watch",)
    lot = lots[0]
    assert (lot.starting_price, lot.reserve, lot.opening_ms) == (10_000, 25_050, 60_000)
    assert lot.increment == FixedIncrement(500)


def test_json_lots_list_is_one_sale() -> None:
    [(sale, lots)] = parse_catalog('{"lots":[{"title":"A","starting_price":1}]}', "json", D)
    assert sale.mode == "live" and lots[0].id == "a"


def test_csv_rows_report_their_line_numbers() -> None:
    text = (
        "sale,title,starting_price,currency\n"
        "Spring,Watch,100,USD\n"
        "Spring,,100,USD\n"
        "Spring,Vase,-3,USD\n"
        "Autumn,Car,5000,dollars\n"
    )
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "csv", D)
    lines = [line for line, _ in info.value.problems]
    assert lines == [3, 4, 5]
    assert "title is required" in str(info.value)


def test_bad_syntax_is_reported_with_a_line() -> None:
    with pytest.raises(CatalogError, match="line 2"):
        parse_catalog("[[sales]]\ntitle = \n", "toml", D)


def test_demo_has_the_five_samples_and_avoids_taken_ids() -> None:
    [(sale, lots)] = demo_catalog(D)
    assert [(lot.title, lot.starting_price) for lot in lots] == [
        ("Vintage Watch", 10_000),
        ("Antique Vase", 5_000),
        ("Classic Car", 500_000),
        ("Gaming Laptop", 150_000),
        ("Smartphone", 70_000),
    ]
    # one of them shows buy-now to a newcomer
    assert [lot.buy_now for lot in lots] == [None, None, 900_000, None, None]
    [(again, lots2)] = demo_catalog(D, {lot.id for lot in lots}, {sale.id})
    assert again.id != sale.id and lots2[0].id == "vintage-watch-2"


def test_buy_now_prices_in_csv_and_json_are_read_like_the_other_prices() -> None:
    csv_text = (
        "title,starting_price,buy_now\n"
        'Watch,100,"1,250.50"\n'
        "Vase,50,\n"  # left empty: no buy-now
    )
    [(_, lots)] = parse_catalog(csv_text, "csv", D)
    assert [lot.buy_now for lot in lots] == [125_050, None]
    json_text = (
        '{"lots":[{"title":"A","starting_price":1,"buy_now":"7.5"},'
        '{"title":"B","starting_price":1,"buy_now":null}]}'
    )
    [(_, lots)] = parse_catalog(json_text, "json", D)
    assert [lot.buy_now for lot in lots] == [750, None]
    [(_, lots)] = parse_catalog(
        '{"lots":[{"title":"Y","starting_price":5,"buy_now":200}]}',
        "json",
        Defaults(currency="JPY"),
    )
    assert lots[0].buy_now == 200  # a currency without minor units


def test_a_buy_now_below_the_starting_price_is_reported_with_its_line() -> None:
    text = "title,starting_price,buy_now\nWatch,100,500\nVase,50,49.99\nCar,10,ten\n"
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "csv", D)
    assert [line for line, _ in info.value.problems] == [3, 4]
    assert "at least the starting price" in info.value.problems[0][1]
    assert "not a number" in info.value.problems[1][1]


def test_estimates_are_read_in_currency_units_in_every_format() -> None:
    toml_text = """
[[sales]]
title = "Spring"
[[sales.lots]]
title = "Vintage Watch"
starting_price = 100
estimate_low = 800
estimate_high = "1,200.50"
[[sales.lots]]
title = "Vase"
starting_price = 50
estimate_high = 90
"""
    [(_, lots)] = parse_catalog(toml_text, "toml", D)
    assert [(lot.estimate_low, lot.estimate_high) for lot in lots] == [
        (80_000, 120_050),
        (None, 9_000),  # either end may be left out
    ]
    csv_text = "title,starting_price,estimate_low,estimate_high\nWatch,100,800,1200\nVase,50,,\n"
    [(_, lots)] = parse_catalog(csv_text, "csv", D)
    assert [(lot.estimate_low, lot.estimate_high) for lot in lots] == [
        (80_000, 120_000),
        (None, None),  # left empty: no estimate
    ]
    json_text = '{"lots":[{"title":"Y","starting_price":5,"estimate_low":200,"estimate_high"'
    json_text += ":300}]}"
    [(_, lots)] = parse_catalog(json_text, "json", Defaults(currency="JPY"))
    assert (lots[0].estimate_low, lots[0].estimate_high) == (200, 300)  # no minor units


def test_a_bad_estimate_is_reported_with_its_line_and_its_field() -> None:
    text = (
        "title,starting_price,estimate_low,estimate_high\n"
        "Watch,100,800,1200\n"
        "Vase,50,900,300\n"  # low above high
        'Car,10,"250,00",\n'  # an ambiguous comma: 250.00 or 25,000?
        "Lamp,10,,1e3\n"  # an exponent
        "Rug,10,0,\n"  # not a positive amount
    )
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "csv", D)
    problems = dict(info.value.problems)
    assert sorted(problems) == [3, 4, 5, 6]
    assert "low estimate must not be above the high estimate" in problems[3]
    assert "estimate_low" in problems[4] and "unclear" in problems[4]
    assert "estimate_high" in problems[5] and "exponent" in problems[5]
    assert "estimate must be a positive amount" in problems[6]


def test_an_edit_sets_or_clears_an_estimate_and_checks_the_lot_as_a_whole() -> None:
    [(_, [lot, *_])] = demo_catalog(D)
    edited = edited_lot(lot, {"estimate_low": "120", "estimate_high": None}, D)
    assert (edited.estimate_low, edited.estimate_high) == (12_000, None)
    with pytest.raises(ValueError, match="low estimate must not be above"):
        edited_lot(lot, {"estimate_low": 5_000}, D)  # above the demo's high estimate


def test_the_demo_items_carry_estimates_a_bidder_can_read() -> None:
    [(_, lots)] = demo_catalog(D)
    for lot in lots:
        assert lot.estimate_low is not None and lot.estimate_high is not None, lot.title
        assert lot.starting_price <= lot.estimate_low <= lot.estimate_high, lot.title
