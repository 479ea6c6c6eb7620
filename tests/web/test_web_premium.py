"""A sale's buyer's premium (issue 13, point 2): read from TOML, JSON and CSV catalogs and the
admin's sale create, checked to be a fraction from 0 to 1, and kept with the stored sale."""

from __future__ import annotations

from pathlib import Path

import pytest
from web_helpers import in_process

from bidwire.catalog import Defaults, parse_catalog
from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.errors import CatalogError
from bidwire.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(30)
D = Defaults()


def test_catalogs_give_the_premium_and_it_defaults_to_none() -> None:
    toml = '[[sales]]\ntitle = "S"\nbuyers_premium = 0.2\n[[sales.lots]]\ntitle = "A"\n'
    [(sale, _)] = parse_catalog(toml + "starting_price = 1\n", "toml", D)
    assert sale.buyers_premium == 0.2
    [(sale, _)] = parse_catalog('{"lots":[{"title":"A","starting_price":1}]}', "json", D)
    assert sale.buyers_premium == 0
    csv_text = (
        "sale,title,starting_price,buyers_premium\n"
        "Spring,Watch,100,0.25\n"
        "Spring,Vase,50,\n"  # left empty on a row: the sale's, from another row
        "Autumn,Car,5000,\n"
    )
    parsed = parse_catalog(csv_text, "csv", D)
    assert [(s.title, s.buyers_premium) for s, _ in parsed] == [("Spring", 0.25), ("Autumn", 0)]


@pytest.mark.parametrize("bad", ["1.5", "-0.1", '"lots"', "true", "nan"])
def test_a_premium_outside_0_to_1_is_refused_with_a_reason(bad: str) -> None:
    text = f'[[sales]]\ntitle = "S"\nbuyers_premium = {bad}\n[[sales.lots]]\ntitle = "A"\n'
    with pytest.raises(CatalogError) as info:
        parse_catalog(text + "starting_price = 1\n", "toml", D)
    assert "buyer's premium" in str(info.value)


def test_csv_rows_of_one_sale_must_agree_on_the_premium() -> None:
    text = "sale,title,starting_price,buyers_premium\nS,A,1,0.2\nS,B,1,0.1\n"
    with pytest.raises(CatalogError) as info:
        parse_catalog(text, "csv", D)
    assert info.value.problems == [(3, "sale 'S' has two buyer's premiums")]


def test_the_sale_spec_checks_its_premium() -> None:
    with pytest.raises(ValueError, match="buyer's premium"):
        SaleSpec("s", "S", ("a",), buyers_premium=1.01)
    assert SaleSpec("s", "S", ("a",), buyers_premium=1).buyers_premium == 1


async def test_the_premium_is_stored_with_the_sale(tmp_path: Path) -> None:
    path = str(tmp_path / "p.db")
    async with SqliteStore(path) as store:
        await store.add_sale(SaleSpec("s", "S", ("a",), buyers_premium=0.15), [LotSpec("a", "A")])
    async with SqliteStore(path) as store:
        [sale], _ = await store.catalog()
        assert sale.buyers_premium == 0.15


async def test_an_admin_creates_a_sale_with_a_premium_checked_0_to_1() -> None:
    async with in_process(demo=False) as server, server.client(server.admin_token) as admin:
        lots = [{"title": "Watch", "starting_price": 100}]
        made = await admin.post(
            "/api/admin/sales", json={"title": "Spring", "buyers_premium": 0.2, "lots": lots}
        )
        assert made.status_code == 200, made.text
        sale_id = made.json()["sales"][0]["sale"]
        assert server.ctx.house.sales[sale_id].spec.buyers_premium == 0.2
        for bad in (1.2, -0.5, "a lot"):
            refused = await admin.post(
                "/api/admin/sales", json={"title": "Autumn", "buyers_premium": bad, "lots": lots}
            )
            assert (refused.status_code, refused.json()["code"]) == (422, "bad_request"), bad
