"""Stores by URL: ``open_store("sqlite:///path.db")`` or ``open_store("memory://")``.

Drivers are imported lazily; an unknown scheme is a ValueError that names it.
"""

from __future__ import annotations

from bidwire.store.base import Store, StoredHouse, StoredLot, StoredSale
from bidwire.store.url import open_store

__all__ = ["Store", "StoredHouse", "StoredLot", "StoredSale", "open_store"]
