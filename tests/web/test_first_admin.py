"""The admin made at first start is audited like any other change: with who and when."""

from __future__ import annotations

from argon2 import PasswordHasher
from web_helpers import FAST_HASH

from bidwire.accounts.service import Accounts
from bidwire.app import ensure_first_admin
from bidwire.clock import FakeClock
from bidwire.settings import Settings
from bidwire.store.memory import MemoryStore

NOW = 1_767_225_600_000


async def test_the_first_admins_audit_row_carries_the_time_it_was_made() -> None:
    store = MemoryStore()
    accounts = Accounts(store, FakeClock(NOW), PasswordHasher(**FAST_HASH))
    await ensure_first_admin(accounts, Settings(admin_password="first-admin-password"))
    assert store.audit_entries == [(NOW, "startup", "create-user", "admin (admin)")]
