"""Third-party browser files served from their installed Python packages, never copied into the
repository: today plotly.js (the admin analytics page's charts), from the ``plotly`` package's
``package_data/plotly.min.js``.

Why this way: the file is 4.8 MB and changes only when the package does, so it is sent gzipped
(about 1.5 MB; compressed once, on the first request, in a thread, then kept in memory) to a
browser that accepts it, with an ETag naming the package's version and size, so a browser asks
again at most once a day and gets a 304 without a body.
"""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bidwire.transports.http.edge import accepts_gzip, error

PLOTLY_URL = "/vendor/plotly.min.js"
MAX_AGE_S = 86_400

router = APIRouter(include_in_schema=False)


@dataclass
class _Asset:
    path: Path
    etag: str
    media_type: str
    read: tuple[bytes, bytes] | None = None
    """The file as it is and gzipped, once read."""
    lock: asyncio.Lock | None = None

    async def bodies(self) -> tuple[bytes, bytes]:
        if self.read is None:
            if self.lock is None:
                self.lock = asyncio.Lock()
            async with self.lock:
                if self.read is None:
                    self.read = await asyncio.to_thread(self._read)
        return self.read

    def _read(self) -> tuple[bytes, bytes]:
        plain = self.path.read_bytes()
        return plain, gzip.compress(plain, compresslevel=6, mtime=0)


def _plotly() -> _Asset | None:
    try:
        path = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
        release = version("plotly")
    except (ModuleNotFoundError, PackageNotFoundError):
        return None
    if not path.is_file():
        return None
    etag = f'"plotly-{release}-{path.stat().st_size}"'
    return _Asset(path, etag, "text/javascript; charset=utf-8")


_PLOTLY = _plotly()


@router.get(PLOTLY_URL)
async def plotly_js(request: Request) -> Response:
    asset = _PLOTLY
    if asset is None:
        # Our fault, not the browser's: the page says in words that its charts are missing.
        return error(
            "unavailable",
            "plotly is not installed on this server (pip install plotly);"
            " the analytics charts need its plotly.min.js",
        )
    headers = {
        "cache-control": f"public, max-age={MAX_AGE_S}",
        "etag": asset.etag,
        "vary": "accept-encoding",
    }
    if asset.etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    plain, packed = await asset.bodies()
    if accepts_gzip(request):
        headers["content-encoding"] = "gzip"
        return Response(packed, media_type=asset.media_type, headers=headers)
    return Response(plain, media_type=asset.media_type, headers=headers)
