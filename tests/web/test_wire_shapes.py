"""One schema source for each wire shape: the HTTP API answers and documents the msgspec
Structs the wire encodes, with no pydantic copy beside them."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from web_helpers import in_process

from bidwire.engine.queries import BidHistory, LotsPage, SalesPage
from bidwire.engine.views import Snapshot
from bidwire.transports.http import models
from bidwire.transports.http.edge import WIRE_SHAPES

pytestmark = pytest.mark.timeout(30)
LOT = "vintage-watch"


async def test_answers_decode_strictly_as_the_wire_shapes_and_are_documented_from_them() -> None:
    async with in_process() as server, server.client() as http:
        shapes: dict[str, type[Any]] = {
            "/api/sales": SalesPage,
            "/api/lots": LotsPage,
            f"/api/lots/{LOT}": Snapshot,
            f"/api/lots/{LOT}/bids": BidHistory,
        }
        for path, shape in shapes.items():
            reply = await http.get(path)
            assert reply.status_code == 200, reply.text
            msgspec.json.decode(reply.content, type=shape, strict=True)  # every field, exactly
        document = (await http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    _, expected = msgspec.json.schema_components(
        [SalesPage, LotsPage, Snapshot, BidHistory], ref_template="#/components/schemas/{name}"
    )
    for name, schema in expected.items():
        assert schemas[name] == schema, name
    operation = document["paths"]["/api/lots/{lot_id}"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Snapshot"
    }


def test_no_pydantic_model_copies_a_wire_shape() -> None:
    copies = {shape.__name__ for shape in WIRE_SHAPES} & set(vars(models))
    assert not copies, copies
