"""The analytics page's routes: the page itself (public, it holds no figures), the link from the
admin page, and plotly.js served from the installed plotly package (gzipped, cached, never a
copy in the repository)."""

from __future__ import annotations

import subprocess
from importlib.resources import files
from pathlib import Path

import pytest
from web_helpers import ROOT, in_process

from bidwire.transports.http import vendor
from bidwire.transports.http.edge import accepts_gzip

pytestmark = pytest.mark.timeout(60)

PLOTLY_FILE = Path(str(files("plotly") / "package_data" / "plotly.min.js"))


async def test_the_page_is_served_and_linked_from_the_admin_page() -> None:
    async with in_process(demo=False) as server, server.client() as anyone:
        page = await anyone.get("/admin/analytics")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        script = (await anyone.get("/static/analytics.js")).text
        assert 'PLOTLY_URL = "/vendor/plotly.min.js"' in script
        assert "/static/analytics.js" in page.text
        for name in ("analytics.js", "analytics_model.js", "analytics.css"):
            served = await anyone.get(f"/static/{name}")
            assert served.status_code == 200, name
        admin_page = (await anyone.get("/admin")).text
        assert 'href="/admin/analytics"' in admin_page
        schema = (await anyone.get("/openapi.json")).json()
        assert "/admin/analytics" not in schema["paths"]
        assert vendor.PLOTLY_URL not in schema["paths"]


async def test_plotly_comes_from_the_installed_package_gzipped_and_cached() -> None:
    original = PLOTLY_FILE.read_bytes()
    async with in_process(demo=False) as server, server.client() as anyone:
        plain = await anyone.get(vendor.PLOTLY_URL, headers={"accept-encoding": "identity"})
        assert plain.status_code == 200
        assert plain.headers["content-type"].startswith("text/javascript")
        assert "content-encoding" not in plain.headers
        assert plain.content == original
        assert "max-age=86400" in plain.headers["cache-control"]
        assert plain.headers["vary"] == "accept-encoding"
        etag = plain.headers["etag"]
        assert etag.startswith('"plotly-') and str(len(original)) in etag

        packed = await anyone.get(vendor.PLOTLY_URL, headers={"accept-encoding": "gzip, br"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.content == original  # httpx undoes the gzip
        assert int(packed.headers["content-length"]) < len(original) // 2

        refused = await anyone.get(vendor.PLOTLY_URL, headers={"accept-encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers

        again = await anyone.get(vendor.PLOTLY_URL, headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""
        stale = await anyone.get(vendor.PLOTLY_URL, headers={"if-none-match": '"plotly-0-1"'})
        assert stale.status_code == 200


async def test_a_server_without_plotly_says_so_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vendor, "_PLOTLY", None)
    async with in_process(demo=False) as server, server.client() as anyone:
        missing = await anyone.get(vendor.PLOTLY_URL)
        assert missing.status_code == 503
        assert missing.json()["code"] == "unavailable"
        assert "plotly is not installed" in missing.json()["message"]


def test_no_copy_of_plotly_is_in_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    assert not [name for name in tracked if "plotly" in Path(name).name.lower()]
    scripts = [name for name in tracked if name.endswith(".js")]
    assert [name for name in scripts if (ROOT / name).stat().st_size > 1 << 20] == []


def test_the_gzip_check_reads_the_header_as_browsers_write_it() -> None:
    class Asked:
        def __init__(self, value: str) -> None:
            self.headers = {"accept-encoding": value}

    for value, gz in [
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("identity", False),
        ("", False),
        ("gzip;q=0", False),
        ("deflate", False),
    ]:
        assert accepts_gzip(Asked(value)) is gz, value  # type: ignore[arg-type]
