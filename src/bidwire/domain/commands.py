"""Who is acting: identities the engine trusts, built by the session layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["guest", "bidder", "admin"]


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role = "guest"
