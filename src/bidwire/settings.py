"""Settings: one frozen dataclass, built from flags and ``BIDWIRE_*`` environment in one place.

Precedence: a flag given on the command line, then the environment, then the default.
Every limit is finite by default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bidwire.domain.money import parse_units
from bidwire.logs import LOG_FORMATS

MAX_NODE_NAME = 100


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bidwire"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    tcp_port: int = 65432
    http_port: int = 8000
    store: str = ""
    """Store URL; empty means ``sqlite:///<data_dir>/bidwire.db``."""
    bus: str = "memory://"
    """Bus URL: ``memory://`` is one node; several nodes share a ``redis://`` one."""
    node_name: str = ""
    """This node's name in /api/info, /metrics and the logs; empty: the host name and the HTTP
    port (``host:8000``)."""
    log_format: str = "human"
    """``human`` lines, or ``json``: one JSON object a line (bidwire/logs.py)."""
    data_dir: str = ""
    catalog: str = ""
    demo: bool = False
    demo_pause_seconds: float = 20.0
    """With ``demo``: from one run's end to the next run's start (bidwire/demo.py)."""
    extend_seconds: float = 10.0
    opening_seconds: float = 30.0
    lot_gap_seconds: float = 2.0
    synchronous: str = "FULL"
    guests: bool = True
    greet_after_seconds: float = 0.3
    tls_cert: str = ""
    tls_key: str = ""
    max_connections_per_address: int = 5_000
    bid_rate: float = 20.0
    """Bids a second each user may place, sustained; ``bid_burst`` at once."""
    bid_burst: int = 40
    auth_timeout_seconds: float = 30.0
    """A connection with no identity after this long is closed."""
    header_timeout_seconds: float = 10.0
    """An HTTP request whose headers take longer is answered 408 and closed."""
    admin_password: str = field(default="", repr=False)
    """With ``admin_username``: creates that admin on first start if no admin exists."""
    admin_username: str = "admin"
    live_integrity: bool = True
    """Follow the integrity signals (engine/integrity.py) as bids arrive; off: each read
    rebuilds them from the log."""
    integrity_threshold: float = 0.65
    """The integrity score (0..1) at which a bidder is flagged."""
    currency: str = "USD"
    """The house's currency: the one catalog lots without their own get, and the one
    ``confirm_above`` is written in (its minor units: 2 decimals, 0 for JPY, ...)."""
    confirm_above: str = ""
    """Clients ask a bidder to confirm any bid (amount or maximum) above this amount, in
    currency units as a person writes them (``1000`` or ``1,000.50``); empty: no house limit."""

    def __post_init__(self) -> None:
        for name in ("tcp_port", "http_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ValueError(f"{name.replace('_', '-')} must be between 0 and 65535")
        for name in ("extend_seconds", "opening_seconds"):
            if not 0 < getattr(self, name) <= 86_400 * 365:
                raise ValueError(f"{name.replace('_', '-')} must be positive")
        if not 0 <= self.lot_gap_seconds <= 86_400:
            raise ValueError("lot-gap-seconds must be between 0 and 86400")
        if not 0 <= self.demo_pause_seconds <= 86_400:
            raise ValueError("demo-pause-seconds must be between 0 and 86400")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("give both --tls-cert and --tls-key, or neither")
        if self.max_connections_per_address < 1 or self.bid_burst < 1 or self.bid_rate <= 0:
            raise ValueError("connection and bid limits must be positive")
        if not 0 < self.auth_timeout_seconds <= 3_600:
            raise ValueError("auth-timeout-seconds must be between 0 and 3600")
        if not 0 < self.header_timeout_seconds <= 3_600:
            raise ValueError("header-timeout-seconds must be between 0 and 3600")
        if not 0 < self.integrity_threshold <= 1:
            raise ValueError("integrity-threshold must be more than 0 and at most 1")
        if self.synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(
                f"log-format must be {' or '.join(LOG_FORMATS)}, not {self.log_format!r}"
            )
        if len(self.node_name) > MAX_NODE_NAME or not self.node_name.isprintable():
            raise ValueError(f"node-name must be at most {MAX_NODE_NAME} printable characters")
        if not re.fullmatch(r"[A-Za-z]{3}", self.currency):
            raise ValueError("currency must be a three-letter code such as USD or EUR")
        self.confirm_above_minor  # noqa: B018 (parsed now, so a bad amount stops the start)

    @property
    def confirm_above_minor(self) -> int | None:
        """``confirm_above`` in minor units of ``currency``: what the wire says (None: no limit)."""
        if not self.confirm_above.strip():
            return None
        try:
            minor = parse_units(self.confirm_above, self.currency)
        except ValueError as exc:
            raise ValueError(f"confirm-above: {exc}") from None
        if minor == 0:
            raise ValueError("confirm-above must be more than zero (leave it out for no limit)")
        return minor

    @property
    def store_url(self) -> str:
        if self.store:
            return self.store
        data_dir = Path(self.data_dir) if self.data_dir else default_data_dir()
        return f"sqlite:///{(data_dir / 'bidwire.db').resolve()}"

    @classmethod
    def build(
        cls, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Flags that are None were not given; the environment fills them, then defaults."""
        env = os.environ if env is None else env
        chosen: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"BIDWIRE_{f.name.upper()}")
            if raw is not None and raw != "":
                chosen[f.name] = _coerce(f.name, raw, type(getattr(cls(), f.name)))
        for name, value in (flags or {}).items():
            if value is not None:
                chosen[name] = value
        return replace(cls(), **chosen)


def _coerce(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ValueError(f"BIDWIRE_{name.upper()}={raw!r} is not a valid {kind.__name__}") from None
