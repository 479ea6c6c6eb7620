"""Account records and the storage contract they need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

UserRole = Literal["bidder", "admin"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    role: UserRole
    password_hash: str
    blocked: bool
    created_at: int

    def __repr__(self) -> str:  # the hash stays out of logs
        return f"UserRecord(id={self.id}, username={self.username!r}, role={self.role!r})"


class AccountStore(Protocol):
    async def create_user(
        self, username: str, role: UserRole, password_hash: str, now_ms: int
    ) -> UserRecord:
        """Raises errors.Conflict if the username (compared without case) is taken."""
        ...

    async def get_user(self, username: str) -> UserRecord | None: ...

    async def user_like(self, name: str) -> UserRecord | None:
        """The account whose name a reader could take ``name`` for (same ``skeleton``)."""
        ...

    async def list_users(self) -> list[UserRecord]: ...

    async def update_user(
        self,
        user_id: int,
        *,
        blocked: bool | None = None,
        role: UserRole | None = None,
        password_hash: str | None = None,
    ) -> None: ...

    async def add_token(self, token_hash: str, user_id: int, expires_at: int) -> None: ...

    async def token_user(self, token_hash: str, now_ms: int) -> UserRecord | None:
        """The user behind a live token: not expired, not revoked."""
        ...

    async def revoke_token(self, token_hash: str) -> None: ...

    async def revoke_user_tokens(self, user_id: int) -> None: ...

    async def audit(self, actor: str, action: str, detail: str, now_ms: int) -> None:
        """Append to the audit log: every admin change, with who made it."""
        ...

    async def audit_log(self, limit: int) -> list[tuple[int, str, str, str]]: ...

    # -- guest sessions that have bid (engine/gate.py): kept across restarts ------------------

    async def save_guest(self, token_hash: str, name: str, last_seen: int) -> None:
        """Store (or refresh) a guest session: its token's SHA-256, never the token."""
        ...

    async def drop_guest(self, token_hash: str) -> None: ...

    async def kept_guests(self, since_ms: int, limit: int) -> list[tuple[str, str, int]]:
        """The guest sessions used since ``since_ms``, the ``limit`` most recent, as
        ``(token_hash, name, last_seen)``; the others are deleted."""
        ...
