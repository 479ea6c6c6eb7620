"""``bidwire admin`` against a running server: a small client of the HTTP admin API.

Sale operations must go through the server that runs the sale (its engine owns the lots'
state), so these commands log in over HTTP rather than touching the store. Stdlib only.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


def _q(path_part: str) -> str:
    """An id as one path segment (a lot id with a space or a slash stays one segment)."""
    return quote(path_part, safe="")


class AdminApiError(Exception):
    """The server refused: ``code`` and ``message`` as it said them."""

    def __init__(self, status: int, code: str, message: str, problems: list[Any]) -> None:
        self.status, self.code, self.problems = status, code, problems
        lines = "".join(f"\n  line {p.get('line')}: {p.get('message')}" for p in problems[:50])
        super().__init__(f"{message} [{code}]{lines}")


@dataclass
class AdminApi:
    url: str
    timeout: float = 30.0
    cafile: str | None = None
    token: str | None = None

    def _call(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> Any:
        request = urllib.request.Request(self.url.rstrip("/") + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        context = ssl.create_default_context(cafile=self.cafile) if self.cafile else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read())
            except ValueError:
                detail = {}
            raise AdminApiError(
                error.code,
                str(detail.get("code", "http_error")),
                str(detail.get("message", error.reason)),
                list(detail.get("problems") or []),
            ) from None
        except urllib.error.URLError as error:
            reason = f"cannot reach {self.url}: {error.reason}"
            raise AdminApiError(0, "unavailable", reason, []) from None

    def login(self, username: str, password: str) -> None:
        body = json.dumps({"username": username, "password": password}).encode()
        self.token = self._call("POST", "/api/login", body, "application/json")["token"]

    def import_catalog(self, text: bytes, fmt: str) -> Any:
        return self._call("POST", f"/api/admin/catalog?format={fmt}", text, f"text/{fmt}")

    def sale(self, action: str, sale_id: str) -> Any:
        return self._call("POST", f"/api/admin/sales/{_q(sale_id)}/{action}")

    def withdraw(self, lot_id: str) -> Any:
        return self._call("POST", f"/api/admin/lots/{_q(lot_id)}/withdraw")

    def lot(self, lot_id: str) -> Any:
        return self._call("GET", f"/api/lots/{_q(lot_id)}")

    def edit_lot(self, lot_id: str, fields: dict[str, Any]) -> Any:
        body = json.dumps(fields).encode()
        return self._call("PUT", f"/api/admin/lots/{_q(lot_id)}", body, "application/json")

    def void(self, lot_id: str, seq: int) -> Any:
        body = json.dumps({"seq": seq}).encode()
        return self._call("POST", f"/api/admin/lots/{_q(lot_id)}/void", body, "application/json")

    def bids(self, lot_id: str) -> list[dict[str, Any]]:
        """Every bid of the lot, newest first: all the pages of the admin's bid history."""
        bids: list[dict[str, Any]] = []
        query = ""
        while True:
            page = self._call("GET", f"/api/admin/lots/{_q(lot_id)}/bids{query}")
            bids += page["bids"]
            if page.get("next_before_seq") is None:
                return bids
            query = f"?before_seq={int(page['next_before_seq'])}"

    def sales(self) -> list[dict[str, Any]]:
        """Every sale the house knows (held ones too) with its lots."""
        sales: list[dict[str, Any]] = self._call("GET", "/api/admin/sales")["sales"]
        return sales

    def report(self, sale_id: str) -> dict[str, Any]:
        """The sale's report (docs/protocol.md, Sale report), as the server encodes it."""
        report: dict[str, Any] = self._call("GET", f"/api/admin/sales/{_q(sale_id)}/report")
        return report

    def history(self, path: str, most: int, page: int = 200) -> list[dict[str, Any]]:
        """The bids of a history (``path``: /api/admin/sales/{id}/bids,
        /api/admin/bidders/{name}/bids), newest first, page after page: ``most`` at most."""
        bids: list[dict[str, Any]] = []
        before: str | None = None
        while len(bids) < most:
            query = f"?limit={min(page, most - len(bids))}"
            if before is not None:
                query += f"&before={_q(before)}"
            reply = self._call("GET", path + query)
            bids += reply["bids"]
            before = reply.get("next_before")
            if before is None:
                break
        return bids

    def sale_history(self, sale_id: str, most: int) -> list[dict[str, Any]]:
        return self.history(f"/api/admin/sales/{_q(sale_id)}/bids", most)

    def bidder_history(self, name: str, most: int) -> list[dict[str, Any]]:
        return self.history(f"/api/admin/bidders/{_q(name)}/bids", most)

    def lot_history(self, lot_id: str, most: int, page: int = 200) -> list[dict[str, Any]]:
        """The lot's bids with their bidders, newest first: ``most`` at most."""
        bids: list[dict[str, Any]] = []
        query = ""
        while len(bids) < most:
            limit = f"limit={min(page, most - len(bids))}"
            reply = self._call("GET", f"/api/admin/lots/{_q(lot_id)}/bids?{limit}{query}")
            bids += reply["bids"]
            if reply.get("next_before_seq") is None:
                break
            query = f"&before_seq={int(reply['next_before_seq'])}"
        return bids

    def sales_report(self, from_ms: int = 0, to_ms: int | None = None) -> dict[str, Any]:
        """The across-sales report (docs/protocol.md, Sale report): one page, up to 1,000
        sales; its ``next_from`` says where the next starts."""
        query = f"?from={from_ms}" + ("" if to_ms is None else f"&to={to_ms}")
        report: dict[str, Any] = self._call("GET", f"/api/admin/report{query}")
        return report
