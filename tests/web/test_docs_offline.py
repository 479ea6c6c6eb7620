"""/docs and /redoc offline (issue 12, defect 9): every file the pages load comes from this
server, from an installed package, and the browser renders the operations with every request
to another host refused."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from web_helpers import NEEDS_CHROMIUM, in_process, serving

pytestmark = pytest.mark.timeout(60)

CONTENT_TYPES = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
}


class Assets(HTMLParser):
    """Every address a page loads by itself: scripts, style sheets, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_only_files_of_this_server(page: str) -> None:
    async with in_process() as server, server.client() as http:
        reply = await http.get(page)
        assert reply.status_code == 200
        html = reply.text
        parser = Assets()
        parser.feed(html)
        scripts = [u for u in parser.urls if u.endswith(".js")]
        assert scripts, f"{page} loads no script: {parser.urls}"
        # Nothing from another host: no absolute address anywhere in the page (scripts, styles,
        # icons, fonts, or a URL the page's own script would fetch).
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I), html
        for url in parser.urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc and url.startswith("/"), url
            served = await http.get(url)
            assert served.status_code == 200, url
            kind = CONTENT_TYPES[Path(parts.path).suffix]
            assert kind in served.headers["content-type"], (url, served.headers["content-type"])
            assert len(served.content) > 1000 or kind == "image/png", url


@NEEDS_CHROMIUM
@pytest.mark.slow
async def test_docs_render_the_operations_with_the_outside_world_cut_off(
    browser: Any, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("BIDWIRE_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    async with in_process() as server, serving(server.ctx) as ports:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        refused: list[str] = []
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        async def only_loopback(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if host in ("127.0.0.1", "localhost", "::1"):
                await route.continue_()
            else:
                refused.append(route.request.url)
                await route.abort("internetdisconnected")

        await page.route("**/*", only_loopback)
        await page.goto(f"http://127.0.0.1:{ports.http}/docs")
        # Swagger UI has drawn the operations from /openapi.json: one block per operation.
        await page.wait_for_selector(".opblock", timeout=15_000)
        paths = await page.locator(".opblock-summary-path").all_inner_texts()
        joined = " ".join(paths).replace("\u200b", "")
        assert "/api/sales" in joined and "/api/admin/lots/{lot_id}" in joined, joined
        assert len(paths) >= 20, paths
        await page.screenshot(path=str(shots / "desktop-docs-offline.png"))
        assert refused == [], refused
        phone = await context.new_page()
        await phone.set_viewport_size({"width": 390, "height": 844})
        await phone.route("**/*", only_loopback)
        await phone.goto(f"http://127.0.0.1:{ports.http}/redoc")
        await phone.wait_for_selector("[data-section-id]", timeout=15_000)
        await phone.screenshot(path=str(shots / "phone-redoc-offline.png"))
        # ReDoc's own "powered by" logo is the one thing it asks of another host: an image,
        # drawn from its script; the page reads the same without it.
        assert all(url.endswith(".svg") for url in refused), refused
        assert errors == [], errors
        await context.close()
