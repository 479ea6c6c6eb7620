"""Stores by URL: ``open_store("sqlite:///path.db")``, ``open_store("postgresql://...")`` or
``open_store("memory://")``.

Drivers are imported lazily; an unknown scheme is a ValueError that names it.
"""

from __future__ import annotations

from bidwire.store.base import (
    Catalog,
    EventLog,
    Store,
    StoredHouse,
    StoredLot,
    StoredSale,
    load_house,
)
from bidwire.store.url import open_store

__all__ = [
    "Catalog",
    "EventLog",
    "Store",
    "StoredHouse",
    "StoredLot",
    "StoredSale",
    "load_house",
    "open_store",
]
