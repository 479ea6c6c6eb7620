from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher

from bidwire.accounts.limits import SlidingWindow, TokenBucket
from bidwire.accounts.service import (
    LOGIN_FAILURES_PER_ACCOUNT,
    LOGIN_FAILURES_PER_ADDRESS,
    TOKEN_TTL_MS,
    Accounts,
)
from bidwire.clock import FakeClock
from bidwire.errors import BadRequest, Forbidden, NotAuthenticated, RateLimited
from bidwire.store import open_store
from tests.store.pg import fresh_schema

FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # argon2id, test-cheap


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Accounts]:
    if request.param == "postgres":
        async with fresh_schema() as url, open_store(url) as store:
            yield Accounts(store, FakeClock(), FAST)
        return
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/a.db"
    async with open_store(url) as store:
        yield Accounts(store, FakeClock(), FAST)


async def test_register_login_authenticate_logout(accounts: Accounts) -> None:
    session = await accounts.register("alice", "correct horse")
    assert (await accounts.authenticate(session.token)).username == "alice"
    again = await accounts.login("ALICE", "correct horse", "127.0.0.1")
    assert again.token != session.token
    await accounts.logout(session.token)
    with pytest.raises(NotAuthenticated):
        await accounts.authenticate(session.token)
    assert (await accounts.authenticate(again.token)).role == "bidder"


async def test_tokens_expire(accounts: Accounts) -> None:
    session = await accounts.register("bob", "long enough")
    assert isinstance(accounts.clock, FakeClock)
    accounts.clock.advance(TOKEN_TTL_MS)
    with pytest.raises(NotAuthenticated, match="expired"):
        await accounts.authenticate(session.token)


async def test_blocking_revokes_everything(accounts: Accounts) -> None:
    session = await accounts.register("carol", "long enough")
    await accounts.block("carol", True, by="root")
    with pytest.raises(NotAuthenticated):
        await accounts.authenticate(session.token)
    with pytest.raises(Forbidden):
        await accounts.login("carol", "long enough", "127.0.0.1")
    assert (await accounts.store.audit_log(5))[0][1:] == ("root", "block", "carol")


async def test_hashes_are_argon2id_and_never_the_password(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/h.db") as store:
        accounts = Accounts(store, FakeClock())
        await accounts.register("dave", "s3cret-passw0rd")
        user = await accounts.store.get_user("dave")
        assert user is not None and user.password_hash.startswith("$argon2id$")
        assert "s3cret" not in repr(user)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("h.db*"))
    assert b"s3cret-passw0rd" not in raw


@pytest.mark.parametrize(
    ("username", "password", "why"),
    [
        ("al", "long enough", "3 to 32"),
        ("x" * 33, "long enough", "3 to 32"),
        ("bad name", "long enough", "letters"),
        ("<script>", "long enough", "letters"),
        ("robert'); DROP TABLE users;--", "long enough", "letters"),
        ("erin", "short", "8 to 256"),
        ("erin", "p" * 10_000, "8 to 256"),
        ("frankie99", "frankie99", "must not be the username"),
        ("gina", "tab\there!", "control"),
    ],
)
async def test_validation_explains_itself(
    accounts: Accounts, username: str, password: str, why: str
) -> None:
    with pytest.raises(BadRequest, match=why):
        await accounts.register(username, password)


async def test_a_taken_username_is_refused(accounts: Accounts) -> None:
    await accounts.register("henry", "long enough")
    with pytest.raises(BadRequest, match="taken"):
        await accounts.register("HENRY", "long enough too")


async def test_the_hundredth_wrong_password_in_a_minute_is_throttled(accounts: Accounts) -> None:
    await accounts.register("ivan", "the right one")
    outcomes = []
    for attempt in range(100):
        try:
            await accounts.login("ivan", f"wrong {attempt}", "10.0.0.9")
            outcomes.append("ok")
        except NotAuthenticated:
            outcomes.append("wrong")
        except RateLimited:
            outcomes.append("throttled")
    assert outcomes[-1] == "throttled"
    assert outcomes.count("wrong") <= 10
    with pytest.raises(RateLimited):  # even the right password waits out the window
        await accounts.login("ivan", "the right one", "10.0.0.9")
    assert isinstance(accounts.clock, FakeClock)
    accounts.clock.advance(61_000)
    assert (await accounts.login("ivan", "the right one", "10.0.0.9")).user.username == "ivan"


def test_sliding_window_and_token_bucket() -> None:
    window = SlidingWindow(3, 1_000)
    for t in (0, 10, 20):
        assert not window.blocked("k", t)
        window.hit("k", t)
    assert window.blocked("k", 500)
    assert not window.blocked("k", 1_001)
    window.hit("k", 1_001)
    window.release("k", 1_001)
    window.release("k", 5)  # no such hit: nothing to take back
    assert [window.blocked("k", 1_005), window.blocked("k", 1_015)] == [False, False]
    bucket = TokenBucket(rate=2, burst=2)
    assert [bucket.take("u", 0) for _ in range(3)] == [True, True, False]
    assert bucket.take("u", 500)
    assert not bucket.take("u", 500)


class CountingHasher(PasswordHasher):
    """The test-cheap hasher, counting the verifications it is asked for (from threads)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.verified += 1
        return super().verify(hash, password)


async def outcomes_of(logins: list[Awaitable[object]]) -> Counter[str]:
    results = await asyncio.gather(*logins, return_exceptions=True)
    return Counter(getattr(r, "code", "ok") for r in results)


async def test_concurrent_wrong_passwords_for_one_account_get_ten_verifications() -> None:
    hasher = CountingHasher()
    async with open_store("memory://") as store:
        accounts = Accounts(store, FakeClock(), hasher)
        await accounts.register("judy", "the right one")
        codes = await outcomes_of(
            [accounts.login("judy", f"wrong {n}", "10.0.0.7") for n in range(60)]
        )
    assert hasher.verified <= LOGIN_FAILURES_PER_ACCOUNT
    assert codes == {"not_authenticated": hasher.verified, "rate_limited": 60 - hasher.verified}


async def test_concurrent_guesses_from_one_address_get_thirty_verifications() -> None:
    hasher = CountingHasher()
    async with open_store("memory://") as store:
        accounts = Accounts(store, FakeClock(), hasher)
        codes = await outcomes_of(
            [accounts.login(f"nobody{n}", "a guess!!", "10.0.0.8") for n in range(60)]
        )
    assert hasher.verified <= LOGIN_FAILURES_PER_ADDRESS
    assert codes["rate_limited"] >= 60 - LOGIN_FAILURES_PER_ADDRESS


async def test_good_logins_do_not_use_up_their_addresss_failures(accounts: Accounts) -> None:
    await accounts.register("kim", "the right one")
    for _ in range(LOGIN_FAILURES_PER_ADDRESS + 5):
        await accounts.login("kim", "the right one", "10.0.0.10")
    with pytest.raises(NotAuthenticated):
        await accounts.login("kim", "not the one", "10.0.0.10")
