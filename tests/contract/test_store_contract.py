"""The CacheStore contract, run against the memory store and a real redis-server."""

from __future__ import annotations

import pytest

from tests.support.harness import Harness
from zproxy.policy.keys import Hasher, Identity, cache_key
from zproxy.store.cache import CacheEntry

H = Hasher(b"contract-test-secret-16")


def key_for(principal: str, path: str = "/v1/accounts/A1") -> str:
    return cache_key(H, Identity(principal=principal), "GET", path, "")


def entry(body: bytes = b'{"success":true}', tags: tuple[str, ...] = ()) -> CacheEntry:
    return CacheEntry(
        status=200,
        headers=(("Content-Type", "application/json"),),
        body=body,
        stored_at=1_700_000_000.25,
        tags=tags,
    )


async def test_get_of_a_missing_key_is_none(harness: Harness) -> None:
    assert await harness.store.get(key_for("tA")) is None


@pytest.mark.parametrize(
    "body", [b"", b'{"success":true}', b'{"x":"' + b"y" * 50_000 + b'"}', bytes(range(256)) * 8]
)
async def test_set_then_get_round_trips(harness: Harness, body: bytes) -> None:
    k = key_for("tA")
    stored = entry(body, tags=("account:A1", "catalog"))
    await harness.store.set(k, stored, 60)
    assert await harness.store.get(k) == stored


async def test_every_entry_has_a_ttl_and_expires(harness: Harness) -> None:
    k = key_for("tA")
    await harness.store.set(k, entry(), 30)
    ttl = await harness.ttl_of(k)
    assert ttl is not None
    assert 0 < ttl <= 30
    await harness.expire(k)
    assert await harness.store.get(k) is None


async def test_set_overwrites(harness: Harness) -> None:
    k = key_for("tA")
    await harness.store.set(k, entry(b"old"), 60)
    await harness.store.set(k, entry(b"new"), 60)
    got = await harness.store.get(k)
    assert got is not None
    assert got.body == b"new"


async def test_purge_tags_in_scope_spares_other_principals(harness: Harness) -> None:
    mine, theirs, untagged = key_for("tA"), key_for("tB"), key_for("tA", "/v1/other")
    await harness.store.set(mine, entry(tags=("account:A1",)), 60)
    await harness.store.set(theirs, entry(tags=("account:A1",)), 60)
    await harness.store.set(untagged, entry(tags=("account:A2",)), 60)
    assert await harness.store.purge_tags(["account:A1"], scope="tA") == 1
    assert await harness.store.get(mine) is None
    assert await harness.store.get(theirs) is not None
    assert await harness.store.get(untagged) is not None


async def test_purge_tags_without_scope_hits_every_principal(harness: Harness) -> None:
    keys = [key_for(p) for p in ("tA", "tB", "tC")]
    for k in keys:
        await harness.store.set(k, entry(tags=("catalog", "x:y")), 60)
    spared = key_for("tA", "/v1/spared")
    await harness.store.set(spared, entry(tags=("catalog:extra",)), 60)
    assert await harness.store.purge_tags(["catalog", "missing"]) == 3
    for k in keys:
        assert await harness.store.get(k) is None
    assert await harness.store.get(spared) is not None


async def test_purge_tags_with_colons_and_glob_characters(harness: Harness) -> None:
    k = key_for("tA")
    other = key_for("tA", "/v1/b")
    await harness.store.set(k, entry(tags=("zoql:Account*[1]?",)), 60)
    await harness.store.set(other, entry(tags=("zoql:AccountX[1]!",)), 60)
    assert await harness.store.purge_tags(["zoql:Account*[1]?"]) == 1
    assert await harness.store.get(other) is not None


async def test_purge_counts_only_entries_still_there(harness: Harness) -> None:
    k = key_for("tA")
    await harness.store.set(k, entry(tags=("t",)), 60)
    await harness.expire(k)
    assert await harness.store.purge_tags(["t"], scope="tA") == 0
    assert await harness.store.purge_tags([], scope="tA") == 0


async def test_invalidate_tags_marks_every_identitys_entries_until_stored_again(
    harness: Harness,
) -> None:
    a, b, other = key_for("tA"), key_for("tB"), key_for("tA", "/v1/other")
    await harness.store.set(a, entry(b"a", tags=("account:A1",)), 60)
    await harness.store.set(b, entry(b"b", tags=("account:A1", "catalog")), 60)
    await harness.store.set(other, entry(b"o", tags=("account:A2",)), 60)
    assert await harness.store.invalidate_tags(["account:A1", "missing"]) == 2
    for k, body in ((a, b"a"), (b, b"b")):
        got = await harness.store.get(k)
        assert got is not None
        assert (got.body, got.invalidated) == (body, True)  # kept for stale-if-error
    untouched = await harness.store.get(other)
    assert untouched is not None
    assert untouched.invalidated is False
    await harness.store.set(a, entry(b"a2", tags=("account:A1",)), 60)
    fresh = await harness.store.get(a)
    assert fresh is not None
    assert (fresh.body, fresh.invalidated) == (b"a2", False)
    assert await harness.store.invalidate_tags([]) == 0


async def test_invalidate_skips_expired_entries(harness: Harness) -> None:
    k = key_for("tA")
    await harness.store.set(k, entry(tags=("t",)), 60)
    await harness.expire(k)
    assert await harness.store.invalidate_tags(["t"]) == 0
    assert await harness.store.get(k) is None


async def test_purge_principal_drops_only_that_identity(harness: Harness) -> None:
    a1, a2, b1 = key_for("tA"), key_for("tA", "/v1/x"), key_for("tB")
    for k in (a1, a2, b1):
        await harness.store.set(k, entry(), 60)
    assert await harness.store.purge_principal("tA") == 2
    assert await harness.store.get(a1) is None
    assert await harness.store.get(a2) is None
    assert await harness.store.get(b1) is not None
    assert await harness.store.purge_principal("tA") == 0


async def test_purge_all_empties_the_cache(harness: Harness) -> None:
    keys = [key_for(f"t{i}", f"/v1/{j}") for i in range(3) for j in range(4)]
    for k in keys:
        await harness.store.set(k, entry(tags=("t",)), 60)
    assert await harness.store.purge_all() == len(keys)
    for k in keys:
        assert await harness.store.get(k) is None
    assert await harness.store.purge_tags(["t"]) == 0
    assert await harness.store.purge_all() == 0
