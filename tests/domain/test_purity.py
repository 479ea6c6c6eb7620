"""The domain stays pure: no I/O, no clock, no randomness (design.md section 1)."""

import ast
from pathlib import Path

import bidwire.domain

FORBIDDEN = {
    "asyncio",
    "socket",
    "sqlite3",
    "time",
    "datetime",
    "random",
    "os",
    "threading",
    "selectors",
    "subprocess",
    "urllib",
    "http",
    "logging",
    "secrets",
    "uuid",
}


def test_domain_imports_nothing_that_does_io_or_reads_a_clock() -> None:
    root = Path(bidwire.domain.__file__).parent
    offenders = []
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in FORBIDDEN or (top == "bidwire" and not name.startswith("bidwire.domain")):
                    offenders.append(f"{path.name}: {name}")
    assert not offenders, offenders
