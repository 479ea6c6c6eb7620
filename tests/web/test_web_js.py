"""The web page's pure modules, unit-tested in node (tests/web/js/*.test.mjs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).parent / "js"
NODE = shutil.which("node")


@pytest.mark.timeout(120)
@pytest.mark.skipif(
    NODE is None and not os.environ.get("BIDWIRE_REQUIRE_SERVICES"),
    reason="node is not installed (apt-get install -y nodejs); CI requires it",
)
def test_the_pages_pure_modules() -> None:
    assert NODE is not None, "node is required here"
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert files, "no JavaScript tests found"
    done = subprocess.run(
        [NODE, "--test", *files], capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout, done.stdout
