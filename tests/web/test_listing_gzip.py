"""The sales and lots listings of a big house go gzipped to a client that takes gzip (a phone
reading 10,000 lots reads a tenth of the bytes), the same JSON once unpacked; a small listing,
or a client that does not take gzip, gets it plain."""

from __future__ import annotations

import pytest
from web_helpers import in_process

from bidwire.domain.lot import LotSpec
from bidwire.domain.sale import SaleSpec
from bidwire.transports.http.edge import GZIP_FROM_BYTES

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("path", ["/api/sales", "/api/lots"])
async def test_a_big_listing_is_gzipped_for_a_client_that_takes_it(path: str) -> None:
    async with in_process(demo=False) as server, server.client() as anyone:
        small = await anyone.get(path, headers={"accept-encoding": "gzip"})
        assert small.status_code == 200 and "content-encoding" not in small.headers

        lots = [LotSpec(f"lot-{i}", f"Lot number {i}", description="x" * 200) for i in range(600)]
        sale = SaleSpec("big", "Big sale", tuple(lot.id for lot in lots), mode="timed")
        await server.ctx.house.add_sale(sale, lots)
        plain = await anyone.get(path, headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert len(plain.content) >= GZIP_FROM_BYTES, "too small a house to show anything"
        assert plain.headers["vary"] == "accept-encoding"

        packed = await anyone.get(path, headers={"accept-encoding": "br, gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "accept-encoding"
        assert int(packed.headers["content-length"]) < len(plain.content) // 5
        assert packed.json() == plain.json()  # httpx undoes the gzip

        refused = await anyone.get(path, headers={"accept-encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers
