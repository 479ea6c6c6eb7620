"""docs/protocol.md must agree with the shared contract: every message type, field-bearing
code and rejection code the contract names is documented (and implemented) here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bidwire.wire import codec

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT.parent / "shared" / "protocol.md"

# Sections of the contract that are ahead of the code, each with the issue that makes it due.
# The issue that builds a section removes its line here.
NOT_YET_DUE: dict[str, str] = {}


def words(text: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, text))


def sections(text: str) -> dict[str, str]:
    """The contract's `## ` sections by heading (the text before the first is under "")."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    found = {"": parts[0]}
    found.update(zip(parts[1::2], parts[2::2], strict=True))
    return found


def due_part(contract: str) -> str:
    found = sections(contract)
    stale = sorted(set(NOT_YET_DUE) - set(found))
    assert not stale, f"NOT_YET_DUE names sections the contract no longer has: {stale}"
    return "\n".join(body for heading, body in found.items() if heading not in NOT_YET_DUE)


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared/protocol.md is not beside the repo")
def test_our_protocol_doc_covers_the_contract() -> None:
    contract = due_part(CONTRACT.read_text())
    ours = (ROOT / "docs" / "protocol.md").read_text()
    types = words(contract, r'"type":"([a-z_]+)"')
    codes = words(contract, r"`([a-z_]+)`")  # every code and term the contract marks
    assert types, "the contract names message types"
    missing = sorted(t for t in types if f'"type":"{t}"' not in ours and f"`{t}`" not in ours)
    assert not missing, f"docs/protocol.md does not show: {missing}"
    missing_codes = sorted(c for c in codes if c not in ours)
    assert not missing_codes, missing_codes


def test_an_exception_covers_its_section_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "intro\n## A\n`a` x\n## Later\n`later`\n## B\n`b`\n"
    assert "`later`" in due_part(text)  # nothing is excepted today: every section is due
    monkeypatch.setitem(NOT_YET_DUE, "Later", "a later issue")
    part = due_part(text)
    assert "`a`" in part and "`b`" in part and "later" not in part


def test_every_client_message_of_the_contract_is_decoded() -> None:
    kinds = ("hello", "register", "login", "auth", "bid", "buy_now", "subscribe", "unsubscribe")
    for kind in (*kinds, "resync", "ping"):
        assert kind in codec.MESSAGE_TYPES
