"""The domain stays pure: no I/O, no clock, no randomness (design.md section 1).

An allow-list, not a deny-list: a module nobody thought to forbid (``shutil``, ``importlib``,
``pathlib``) is refused too, and so is a relative import that climbs out of the domain.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bidwire.domain

DOMAIN = "bidwire.domain"
ALLOWED_MODULES = frozenset(
    {
        "__future__",
        "bisect",
        "collections.abc",
        "dataclasses",
        "decimal",
        "enum",
        "functools",
        "hashlib",
        "hmac",
        "itertools",
        "math",
        "msgspec",
        "re",
        "typing",
        "unicodedata",
        DOMAIN,
    }
)
"""Each allows itself and its submodules."""
FORBIDDEN_NAMES = frozenset(
    {"open", "print", "input", "exec", "eval", "compile", "breakpoint"}
    | {"__import__", "__builtins__"}
)
"""Built-ins that do I/O or run code the imports above would not show: refused even unused
as a call (``write = print``)."""


def allowed(module: str) -> bool:
    return any(module == ok or module.startswith(ok + ".") for ok in ALLOWED_MODULES)


def resolve(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute module of ``from ... import``; None if it climbs above the top package."""
    if node.level == 0:
        return node.module
    parts = package.split(".")
    if node.level > len(parts):
        return None
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def impurities(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """What in ``source`` (the text of ``module``) breaks the domain's purity, one line each."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if not allowed(a.name)]
        elif isinstance(node, ast.ImportFrom):
            target = resolve(node, package)
            if target is None or not allowed(target):
                found.append(f"from {'.' * node.level}{node.module or ''} ({target})")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            found.append(f"{node.id} (line {node.lineno})")
    return found


def test_domain_imports_only_what_is_allowed_and_calls_no_io() -> None:
    root = Path(bidwire.domain.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) >= 6, "the domain's files were not found"
    offenders = {}
    for path in files:
        relative = path.relative_to(root).with_suffix("")
        is_package = relative.name == "__init__"
        parts = relative.parts[:-1] if is_package else relative.parts
        module = ".".join((DOMAIN, *parts))
        problems = impurities(path.read_text(), module, is_package=is_package)
        if problems:
            offenders[str(path.relative_to(root))] = problems
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import os", "bidwire.domain.lot"),
        ("import time as clock", "bidwire.domain.lot"),
        ("from datetime import datetime", "bidwire.domain.lot"),
        ("import shutil", "bidwire.domain.lot"),  # on no deny-list, still refused
        ("import importlib", "bidwire.domain.lot"),
        ("import collections", "bidwire.domain.lot"),  # only collections.abc is allowed
        ("from bidwire.engine import house", "bidwire.domain.lot"),
        ("from .. import clock", "bidwire.domain.lot"),  # bidwire.clock, relatively
        ("from ..engine.house import AuctionHouse", "bidwire.domain.lot"),
        ("from ...store import sqlite", "bidwire.domain.rules.table"),  # a subpackage
        ("from .......x import y", "bidwire.domain.lot"),  # above the top package
        ("def f():\n    import socket", "bidwire.domain.lot"),  # hidden in a function
        ("print('bid')", "bidwire.domain.lot"),
        ("with open('log') as f: pass", "bidwire.domain.lot"),
        ("x = input()", "bidwire.domain.lot"),
        ("exec('import os')", "bidwire.domain.lot"),
        ("eval('1')", "bidwire.domain.lot"),
        ("m = __import__('os')", "bidwire.domain.lot"),
        ("say = print", "bidwire.domain.lot"),
    ],
)
def test_the_checker_catches_a_bad_file(source: str, module: str) -> None:
    assert impurities(source, module), f"{source!r} passed as pure"


@pytest.mark.parametrize(
    ("source", "module", "is_package"),
    [
        ("from __future__ import annotations\nimport msgspec.json", "bidwire.domain.lot", False),
        ("from collections.abc import Mapping", "bidwire.domain.lot", False),
        ("from .money import parse_units", "bidwire.domain.lot", False),
        ("from . import lot", "bidwire.domain", True),
        ("from .. import money", "bidwire.domain.rules.table", False),
        ("self.open = True\nstatus = 'open'", "bidwire.domain.lot", False),
    ],
)
def test_the_checker_passes_a_pure_file(source: str, module: str, is_package: bool) -> None:
    assert impurities(source, module, is_package=is_package) == []
