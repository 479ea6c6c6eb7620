"""docs/protocol.md must agree with the shared contract: every message type, field-bearing
code and rejection code the contract names is documented (and implemented) here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bidwire.wire import codec

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT.parent / "shared" / "protocol.md"


def words(text: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, text))


@pytest.mark.skipif(not CONTRACT.exists(), reason="shared/protocol.md is not beside the repo")
def test_our_protocol_doc_covers_the_contract() -> None:
    contract = CONTRACT.read_text()
    ours = (ROOT / "docs" / "protocol.md").read_text()
    types = words(contract, r'"type":"([a-z_]+)"')
    codes = words(contract, r"`([a-z_]+)`")  # every code and term the contract marks
    assert types, "the contract names message types"
    missing = sorted(t for t in types if f'"type":"{t}"' not in ours and f"`{t}`" not in ours)
    assert not missing, f"docs/protocol.md does not show: {missing}"
    missing_codes = sorted(c for c in codes if c not in ours)
    assert not missing_codes, missing_codes


def test_every_client_message_of_the_contract_is_decoded() -> None:
    kinds = ("hello", "register", "login", "auth", "bid", "subscribe", "unsubscribe", "resync")
    for kind in (*kinds, "ping"):
        assert kind in codec.MESSAGE_TYPES
