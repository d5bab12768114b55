"""``Identities`` memoizes the hashing of a credential, never the principal a token resolves to."""

from __future__ import annotations

import redis.asyncio as aioredis
from multidict import CIMultiDict, CIMultiDictProxy

from zproxy.clock import FakeClock
from zproxy.edge import identity as identity_module
from zproxy.edge.identity import Identities
from zproxy.policy.credentials import token_hash
from zproxy.policy.keys import Hasher
from zproxy.store.memory import MemoryCacheStore
from zproxy.store.principals import PrincipalStore

HASHER = Hasher(b"k" * 32)


def headers(**items: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in items.items()}))


def identities(redis_client: aioredis.Redis, clock: FakeClock) -> Identities:
    principals = PrincipalStore(redis_client, clock, local_ttl=0.001, negative_ttl=0.001)
    return Identities(HASHER, principals, MemoryCacheStore(clock))


async def test_different_credentials_never_share_a_principal(redis_client: aioredis.Redis) -> None:
    ids = identities(redis_client, FakeClock())
    seen = set()
    for token in ("a", "b", "a", "b"):
        caller = await ids.caller(headers(Authorization=f"Bearer {token}"))
        assert caller is not None
        seen.add((token, caller.identity.principal))
    assert len(seen) == 2
    assert len({principal for _, principal in seen}) == 2
    one = await ids.caller(headers(Authorization="Bearer a", Accept="application/json"))
    two = await ids.caller(headers(Authorization="Bearer a", Accept="text/csv"))
    assert one is not None
    assert two is not None
    assert one.identity != two.identity


async def test_a_memoized_token_follows_its_grant_and_its_refusal(
    redis_client: aioredis.Redis,
) -> None:
    clock = FakeClock()
    ids = identities(redis_client, clock)
    h = headers(Authorization="Bearer tok-1")
    before = await ids.caller(h)
    assert before is not None
    assert before.identity.principal.startswith("t")
    await ids.principals.remember(token_hash(HASHER, "tok-1"), "oClient", 3600)
    clock.advance(1)
    granted = await ids.caller(h)
    assert granted is not None
    assert granted.identity.principal == "oClient"
    assert granted.identity.accept == before.identity.accept
    await ids.refused(h)
    clock.advance(1)
    after = await ids.caller(h)
    assert after is not None
    assert after.identity.principal == before.identity.principal


async def test_no_caller_is_memoized_as_none_and_the_memo_is_bounded(
    redis_client: aioredis.Redis,
) -> None:
    ids = identities(redis_client, FakeClock())
    assert await ids.caller(headers(Authorization="Bearer x", Connection="Authorization")) is None
    assert await ids.caller(headers(Authorization="Bearer x", Connection="Authorization")) is None
    assert await ids.caller(headers(Authorization="Bearer x")) is not None
    for i in range(identity_module.MEMO_SIZE + 10):
        await ids.caller(headers(Cookie=f"ZSession=s{i}"))
    assert len(ids._memo) == identity_module.MEMO_SIZE
