"""Registration, login, tokens. Passwords are hashed with argon2id off the event loop; tokens
are random, shown once, and stored only as their SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bidwire.accounts.records import AccountStore, UserRecord, UserRole
from bidwire.clock import Clock
from bidwire.errors import BadRequest, Conflict, Forbidden, NotAuthenticated, RateLimited
from bidwire.limits.base import Limits
from bidwire.limits.memory import MemoryLimits

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{2,31}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 256
TOKEN_TTL_MS = 7 * 24 * 3600 * 1000
LOGIN_FAILURES_PER_ACCOUNT = 10
LOGIN_FAILURES_PER_ADDRESS = 30
LOGIN_WINDOW_MS = 60_000
GUEST_PREFIX = "guest-"
"""Made-up guest names start so (``guest-1234``); no account may, so they never clash."""


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise BadRequest(
            "a username is 3 to 32 characters: letters, digits, '.', '-' or '_',"
            " starting with a letter or digit"
        )
    if username.casefold().startswith(GUEST_PREFIX):
        raise BadRequest(f"names starting with {GUEST_PREFIX!r} are kept for guests")
    return username


def check_password(password: str, username: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if password.casefold() == username.casefold():
        raise BadRequest("the password must not be the username")
    if any(ord(c) < 32 for c in password):
        raise BadRequest("a password cannot hold control characters")
    return password


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    user: UserRecord
    token: str


class Accounts:
    def __init__(
        self,
        store: AccountStore,
        clock: Clock,
        hasher: PasswordHasher | None = None,
        limits: Limits | None = None,
    ):
        self.store = store
        self.clock = clock
        self.hasher = hasher or PasswordHasher()  # argon2id with the library's RFC 9106 defaults
        # shared by every node on a redis:// house: failures spread over nodes count together
        shared: Limits = limits or MemoryLimits()
        self._per_account = shared.throttle(
            "login-account", LOGIN_FAILURES_PER_ACCOUNT, LOGIN_WINDOW_MS
        )
        self._per_address = shared.throttle(
            "login-address", LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS
        )
        # a hash to verify against when the user does not exist, so timing does not tell;
        # made on first use, in a thread like every other hash (it takes tens of ms)
        self._decoy: str | None = None

    async def create_user(self, username: str, password: str, role: UserRole) -> UserRecord:
        check_username(username)
        check_password(password, username)
        like = await self.store.user_like(username)
        if like is not None:
            raise BadRequest(f"the username {username!r} is taken, or too like {like.username!r}")
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        try:
            return await self.store.create_user(username, role, hashed, self.clock.now_ms())
        except Conflict:
            raise BadRequest(f"the username {username!r} is taken") from None

    async def register(self, username: str, password: str) -> Session:
        user = await self.create_user(username, password, "bidder")
        return await self._issue(user)

    async def login(self, username: str, password: str, address: str) -> Session:
        now = self.clock.now_ms()
        account_key = username.casefold()
        # Counted as a failure until it succeeds: logins sent at once must see each other,
        # or every one of them gets past the check and costs a hash.
        counted = await self._per_account.reserve(account_key, now)
        at_address = await self._per_address.reserve(address, now) if counted else None
        if counted is None or at_address is None:
            if counted is not None:
                await self._per_account.release(account_key, counted)
            raise RateLimited("too many failed logins; wait a minute and try again")
        user = await self.store.get_user(username) if USERNAME.match(username) else None
        if user is None and self._decoy is None:
            self._decoy = await asyncio.to_thread(self.hasher.hash, secrets.token_hex(16))
        hashed = user.password_hash if user is not None else self._decoy
        assert hashed is not None
        ok = await asyncio.to_thread(self._verify, hashed, password)
        if user is None or not ok:
            raise NotAuthenticated("wrong username or password")
        if user.blocked:
            raise Forbidden("this account is blocked")
        await self._per_account.clear(account_key)
        await self._per_address.release(address, at_address)  # many people share an address
        return await self._issue(user)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _issue(self, user: UserRecord) -> Session:
        token = secrets.token_urlsafe(32)
        await self.store.add_token(token_hash(token), user.id, self.clock.now_ms() + TOKEN_TTL_MS)
        return Session(user, token)

    async def authenticate(self, token: str) -> UserRecord:
        if not token or len(token) > 256:
            raise NotAuthenticated("invalid token")
        user = await self.store.token_user(token_hash(token), self.clock.now_ms())
        if user is None:
            raise NotAuthenticated("the token is unknown, expired or revoked; log in again")
        if user.blocked:
            raise Forbidden("this account is blocked")
        return user

    async def logout(self, token: str) -> None:
        await self.store.revoke_token(token_hash(token))

    async def block(self, username: str, blocked: bool, by: str) -> UserRecord:
        user = await self.store.get_user(username)
        if user is None:
            raise BadRequest(f"no user {username!r}")
        await self.store.update_user(user.id, blocked=blocked)
        if blocked:
            await self.store.revoke_user_tokens(user.id)
        await self.store.audit(by, "block" if blocked else "unblock", username, self.clock.now_ms())
        updated = await self.store.get_user(username)
        assert updated is not None
        return updated
