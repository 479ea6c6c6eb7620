"""`bidwire report SALE --chart FILE` against a served sale: a lot sold at its deadline, a lot
with a voided bid, a withdrawn lot; the PNG is a PNG, the SVG parses and names every lot, and a
chart of another kind is refused in words before anything is asked of the server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bidwire.admin_client import AdminApi
from tests.e2e.conftest import JsonClient
from tests.e2e.test_report_cli import PASSWORD, report

pytestmark = pytest.mark.timeout(120)

TITLES = ("Brass carriage clock", "Oak writing desk", "Silver teapot")


async def served_sale(server: Any, tmp_path: Path) -> tuple[str, list[str]]:
    catalog = tmp_path / "sale.json"
    lots = [
        {"title": TITLES[0], "starting_price": 10, "estimate_low": 12, "estimate_high": 20,
         "opening_seconds": 3, "extend_seconds": 1},
        {"title": TITLES[1], "starting_price": 20, "estimate_low": 50, "opening_seconds": 90},
        {"title": TITLES[2], "starting_price": 5, "opening_seconds": 90},
    ]  # fmt: skip
    catalog.write_text(json.dumps({"sales": [{"title": "Winter", "mode": "timed", "lots": lots}]}))
    api = AdminApi(f"http://127.0.0.1:{server.http_port}")
    api.login("admin", PASSWORD)
    sale_id = api.import_catalog(catalog.read_bytes(), "json")["sales"][0]["sale"]
    api.sale("start", sale_id)
    (sale,) = [s for s in api.sales() if s["sale"] == sale_id]
    lot_ids = [lot["lot"] for lot in sale["lots"]]
    clock, desk, teapot = lot_ids
    vera = await JsonClient.connect(server.port, "vera")
    omar = await JsonClient.connect(server.port, "omar")
    for who, lot in ((vera, clock), (omar, clock), (vera, desk), (omar, desk)):
        asked = {"type": "bid", "id": len(who.messages) + 1, "lot": lot}
        placed = await who.request(asked | {"amount": api.lot(lot)["min_amount"]})
        assert placed["type"] == "bid_accepted", placed
    omar_best = api.bids(desk)[0]
    api.void(desk, int(omar_best["seq"]))
    api.withdraw(teapot)
    await vera.wait_for(lambda m: m["type"] == "lot_closed" and m["lot"] == clock, timeout=20)
    await vera.close()
    await omar.close()
    return sale_id, lot_ids


async def test_report_chart_png_and_svg(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory(env={"BIDWIRE_ADMIN_PASSWORD": PASSWORD})
    sale_id, _ = await served_sale(server, tmp_path)

    png = tmp_path / "report.png"
    made = report(server, sale_id, "--chart", str(png))
    assert made.returncode == 0, made.stderr
    assert f"chart of 3 lots written to {png} (png)" in made.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sell-through" in made.stdout  # the table is printed as without --chart

    svg = tmp_path / "report.svg"
    made = report(server, sale_id, "--json", "--chart", str(svg))
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)  # stdout stays the JSON alone
    assert (data["sold"], data["withdrawn"], data["bids"]) == (1, 1, 3)
    root = ET.parse(svg).getroot()
    words = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for title in (*TITLES, "Winter", "sell-through 50% (1 of 2 offered)", "3 bids"):
        assert title in words, title


async def test_report_chart_refuses_another_kind_of_file(
    server_factory: Any, tmp_path: Path
) -> None:
    server = server_factory(env={"BIDWIRE_ADMIN_PASSWORD": PASSWORD})
    wrong = tmp_path / "report.jpg"
    made = report(server, "any-sale", "--chart", str(wrong))
    assert made.returncode == 2
    assert ".png or .svg" in made.stderr and "Traceback" not in made.stderr
    assert not wrong.exists()
    missing = tmp_path / "no-such-dir" / "report.png"
    api = AdminApi(f"http://127.0.0.1:{server.http_port}")
    api.login("admin", PASSWORD)
    catalog = json.dumps({"sales": [{"title": "S", "lots": [{"title": "A", "starting_price": 1}]}]})
    sale_id = api.import_catalog(catalog.encode(), "json")["sales"][0]["sale"]
    made = report(server, sale_id, "--chart", str(missing))
    assert made.returncode == 1 and "cannot write" in made.stderr, made.stderr
    assert "Traceback" not in made.stderr
    unknown = report(server, "nothing", "--chart", str(tmp_path / "x.svg"))
    assert unknown.returncode == 1 and "unknown_sale" in unknown.stderr
    across = report(server, "--all", "--chart", str(tmp_path / "all.png"))
    assert across.returncode == 2 and "a chart draws one sale" in across.stderr, across.stderr
    assert not (tmp_path / "all.png").exists()
