"""The HTTP package and the WebSocket transport import each other's parts: ws.py takes the
cookie and Origin checks from ``http.auth``, and ``http.server`` serves ws.py's endpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.timeout(30)
def test_the_websocket_transport_imports_before_the_http_package() -> None:
    # A fresh interpreter: in this one, whatever a test imported first has settled the order.
    done = subprocess.run(
        [sys.executable, "-c", "import bidwire.transports.ws"],
        capture_output=True,
        text=True,
        timeout=25,
    )
    assert done.returncode == 0, done.stderr
