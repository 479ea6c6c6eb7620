"""The HTTP JSON API: its own rules, and schemathesis against its OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from web_helpers import GuestTokens, ServerProcess

LOT = "vintage-watch"


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    store = tmp_path_factory.mktemp("api") / "x.db"
    # A long first lot, so the whole module runs while it is open.
    server = ServerProcess(f"sqlite:///{store}", ["--demo", "--opening-seconds", "600"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http(api_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.base_url, timeout=10) as client:
        yield client


GUESTS = GuestTokens()


def bid(http: httpx.Client, body: Any, lot: str = LOT) -> httpx.Response:
    return GUESTS.keep(body, http.post(f"/api/lots/{lot}/bids", json=GUESTS.body(body)))


@pytest.mark.timeout(60)
def test_sales_lots_and_snapshot(http: httpx.Client) -> None:
    assert http.get("/healthz").json()["status"] == "ok"
    sales = http.get("/api/sales").json()
    (sale,) = sales["sales"]
    assert [lot["lot"] for lot in sale["lots"]] == [
        "vintage-watch",
        "antique-vase",
        "classic-car",
        "gaming-laptop",
        "smartphone",
    ]
    assert sale["lots"][0]["state"] == "open"
    assert {lot["state"] for lot in sale["lots"][1:]} == {"scheduled"}
    listed = http.get("/api/lots").json()["lots"]
    assert {lot["lot"] for lot in listed} == {lot["lot"] for lot in sale["lots"]}
    snapshot = http.get(f"/api/lots/{LOT}").json()
    assert snapshot["type"] == "snapshot"
    assert snapshot["state"] == "open"
    assert snapshot["ends_at"] > snapshot["ts"]
    assert http.get("/").headers["content-type"].startswith("text/html")
    assert "<script" in http.get("/").text
    assert http.get("/static/app.js").headers["content-type"].startswith("text/javascript")


@pytest.mark.timeout(60)
def test_bids_follow_the_wire_rules(http: httpx.Client) -> None:
    least = http.get(f"/api/lots/{LOT}").json()["min_amount"]

    low = bid(http, {"amount": least - 1, "bidder": "ann"})
    assert low.status_code == 409
    assert low.json()["code"] == "too_low"
    assert low.json()["min_amount"] == least

    first = bid(http, {"amount": least, "bidder": "ann", "request_id": "k1"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["type"] == "bid_accepted" and body["amount"] == least and body["bidder"] == "ann"
    # The same idempotency key again: the first answer, no second bid.
    again = bid(http, {"amount": least, "bidder": "ann", "request_id": "k1"})
    assert again.status_code == 200 and again.json()["seq"] == body["seq"]

    leading = bid(http, {"amount": least * 2, "bidder": "ann"})
    assert (leading.status_code, leading.json()["code"]) == (409, "already_leading")

    snapshot = http.get(f"/api/lots/{LOT}").json()
    assert snapshot["high_bid"] == {"amount": least, "bidder": "ann"}
    assert snapshot["seq"] == body["seq"]

    for amount in (-5, 0, 1.5, "150", 10**15 + 1, True, None):
        refused = bid(http, {"amount": amount, "bidder": "ann"})
        assert (refused.status_code, refused.json()["code"]) == (422, "bad_amount"), amount
    refused = bid(http, {"amount": 10**9, "bidder": ""})
    assert (refused.status_code, refused.json()["code"]) == (422, "bad_request")
    refused = bid(http, {"amount": 10**9, "bidder": "\u0007bell"})
    assert (refused.status_code, refused.json()["code"]) == (422, "bad_request")
    refused = http.post(
        f"/api/lots/{LOT}/bids",
        content=b'{"amount": ',
        headers={"content-type": "application/json"},
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "bad_json")

    unknown = bid(http, {"amount": 10**6, "bidder": "ann"}, lot="no-such-lot")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_lot")
    closed = bid(http, {"amount": 10**6, "bidder": "ann"}, lot="smartphone")
    assert (closed.status_code, closed.json()["code"]) == (409, "lot_not_open")


@pytest.mark.timeout(60)
def test_bid_history_pages_newest_first(http: httpx.Client) -> None:
    amount = http.get(f"/api/lots/{LOT}").json()["min_amount"]
    for i in range(7):
        reply = bid(http, {"amount": amount, "bidder": ("bea", "cy")[i % 2]})
        assert reply.status_code == 200, reply.text
        amount = http.get(f"/api/lots/{LOT}").json()["min_amount"]

    everything = http.get(f"/api/lots/{LOT}/bids", params={"limit": 200}).json()
    seqs = [b["seq"] for b in everything["bids"]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) >= 7
    assert everything["next_before_seq"] is None

    paged: list[int] = []
    before: int | None = None
    while True:
        params: dict[str, int] = {"limit": 3}
        if before is not None:
            params["before_seq"] = before
        page = http.get(f"/api/lots/{LOT}/bids", params=params).json()
        paged += [b["seq"] for b in page["bids"]]
        before = page["next_before_seq"]
        if before is None:
            break
    assert paged == seqs

    for bad_params in ({"limit": 0}, {"limit": 201}, {"before_seq": 0}, {"limit": "x"}):
        refused = http.get(f"/api/lots/{LOT}/bids", params=bad_params)
        assert (refused.status_code, refused.json()["code"]) == (422, "bad_request"), bad_params
    missing = http.get("/api/lots/no-such-lot/bids")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_lot")


@pytest.mark.timeout(60)
def test_openapi_and_docs_are_served(http: httpx.Client) -> None:
    schema = http.get("/openapi.json").json()
    assert {"/api/sales", "/api/lots", "/api/lots/{lot_id}", "/api/lots/{lot_id}/bids"} <= set(
        schema["paths"]
    )
    assert http.get("/docs").status_code == 200
    assert http.get("/nowhere").json()["code"] == "not_found"


# -- schemathesis --------------------------------------------------------------------------------


OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/sales"),
    ("GET", "/api/lots"),
    ("GET", "/api/lots/{lot_id}"),
    ("GET", "/api/lots/{lot_id}/bids"),
    ("GET", "/api/sales/{sale_id}/results"),
    ("GET", "/api/lots/{lot_id}/replay"),
    ("GET", "/api/sales/{sale_id}/replay"),
    ("POST", "/api/lots/{lot_id}/bids"),
    ("POST", "/api/lots/{lot_id}/buy-now"),
    ("GET", "/api/info"),
    ("GET", "/api/server"),
    ("POST", "/api/register"),
    ("POST", "/api/login"),
    ("POST", "/api/logout"),
    ("GET", "/api/me"),
    # The admin side (anonymous here, so every case must be a documented 401).
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users/{username}/block"),
    ("POST", "/api/admin/users/{username}/unblock"),
    ("POST", "/api/admin/sales"),
    ("POST", "/api/admin/catalog"),
    ("PUT", "/api/admin/lots/{lot_id}"),
    ("GET", "/api/admin/lots/{lot_id}"),
    ("POST", "/api/admin/sales/{sale_id}/lots"),
    ("POST", "/api/admin/sales/{sale_id}/start"),
    ("POST", "/api/admin/sales/{sale_id}/pause"),
    ("POST", "/api/admin/sales/{sale_id}/resume"),
    ("POST", "/api/admin/sales/{sale_id}/cancel"),
    ("POST", "/api/admin/lots/{lot_id}/withdraw"),
    ("POST", "/api/admin/lots/{lot_id}/void"),
    ("GET", "/api/admin/lots/{lot_id}/bids"),
    ("GET", "/api/admin/sales/{sale_id}/settlement"),
    ("GET", "/api/admin/sales/{sale_id}/report"),
    ("GET", "/api/admin/sales/{sale_id}/integrity"),
    ("GET", "/api/admin/report"),
    ("GET", "/api/admin/audit"),
    ("GET", "/api/admin/sales"),
    ("POST", "/api/guest"),
    # my activity (anonymous here: every case must be a documented 401)
    ("GET", "/api/me/activity"),
    ("PUT", "/api/me/watch/{lot_id}"),
    ("DELETE", "/api/me/watch/{lot_id}"),
    ("GET", "/api/me/notices"),
    ("POST", "/api/me/notices/read"),
    # bid histories (engine/history.py)
    ("GET", "/api/sales/{sale_id}/bids"),
    ("GET", "/api/me/bids"),
    ("GET", "/api/admin/sales/{sale_id}/bids"),
    ("GET", "/api/admin/bidders/{name}/bids"),
]
# Operations that hash a password per call (argon2id): fewer examples keep the module quick.
SLOW = {"/api/register", "/api/login"}


@pytest.fixture(scope="module")
def openapi(api_server: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(f"{api_server.base_url}/openapi.json")


def test_the_schema_lists_every_operation(openapi: Any) -> None:
    listed = {(op.ok().method.upper(), op.ok().path) for op in openapi.get_all_operations()}
    assert listed == set(OPERATIONS)


# schemathesis' own pytest plugin (from_fixture) does not run on pytest 9, so each operation's
# strategy is driven by hypothesis directly: the same cases, the same checks.
@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [
        pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
        for method, path in OPERATIONS
        for mode in GenerationMode
        # Negative cases need an input that can be wrong: a constrained query or a body.
        if mode is GenerationMode.POSITIVE or path in SLOW or path.endswith("/bids")
    ],
)
@pytest.mark.timeout(120)
def test_api_matches_its_schema(openapi: Any, method: str, path: str, mode: GenerationMode) -> None:
    """No 5xx, and every answer is what the OpenAPI document says it is."""
    operation = openapi[path][method]

    @settings(
        max_examples=10 if path in SLOW else 50,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(
            timeout=10,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
                response_headers_conformance,
            ],
        )

    check()
