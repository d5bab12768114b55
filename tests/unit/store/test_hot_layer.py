"""The in-process hot layer's invariants: only the asking identity's entry, nothing past its
windows, nothing after a drop, a byte bound with least recently used out first."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zproxy.policy.keys import Hasher, Identity, cache_key
from zproxy.store.cache import CacheEntry
from zproxy.store.hot import ENTRY_OVERHEAD, HotLayer, entry_size

H = Hasher(b"hot-layer-test-secret-0123")
NOW = 1_700_000_000.0


def key(principal: str, path: str = "/v1/accounts/A1", accept: str = "") -> str:
    return cache_key(H, Identity(principal=principal, accept=accept), "GET", path, "")


def entry(body: bytes = b'{"ok":true}', tags: tuple[str, ...] = ("account:A1",)) -> CacheEntry:
    return CacheEntry(200, (("Content-Type", "application/json"),), body, NOW, tags)


def test_a_held_entry_is_served_to_its_own_key_only() -> None:
    layer = HotLayer(1 << 20)
    alice, bob = key("alice"), key("bob")
    layer.put(alice, entry(b"alice's"), NOW + 60, NOW)
    assert layer.get(alice, NOW) == entry(b"alice's")
    assert layer.get(bob, NOW) is None
    assert layer.get(key("alice", accept="application/xml"), NOW) is None
    layer.put(bob, entry(b"bob's"), NOW + 60, NOW)
    assert layer.get(alice, NOW) == entry(b"alice's")
    assert layer.get(bob, NOW) == entry(b"bob's")


def test_nothing_is_served_at_or_past_its_windows() -> None:
    layer = HotLayer(1 << 20)
    k = key("alice")
    assert layer.put(k, entry(), NOW + 10, NOW)
    assert layer.get(k, NOW + 9.999) is not None
    assert layer.get(k, NOW + 10) is None
    assert k not in layer  # dropped on the way, not kept for later
    assert layer.get(k, NOW) is None


def test_expired_or_soft_purged_entries_are_never_admitted() -> None:
    layer = HotLayer(1 << 20)
    assert not layer.put(key("a"), entry(), NOW, NOW)
    assert not layer.put(key("a"), replace(entry(), invalidated=True), NOW + 60, NOW)
    assert len(layer) == 0


def test_a_value_read_before_a_drop_is_refused_after_it() -> None:
    layer = HotLayer(1 << 20)
    generation = layer.generation  # taken before the Redis read
    layer.drop_tags(["account:A1"])  # a purge arrives while the read is in flight
    assert not layer.put(key("a"), entry(), NOW + 60, NOW, generation)
    assert layer.put(key("a"), entry(), NOW + 60, NOW, layer.generation)


def test_drops_by_tag_scope_principal_key_and_all() -> None:
    layer = HotLayer(1 << 20)
    a1, a2, b1 = key("alice"), key("alice", "/v1/accounts/A2"), key("bob")
    for k, tag in ((a1, "account:A1"), (a2, "account:A2"), (b1, "account:A1")):
        layer.put(k, entry(tags=(tag,)), NOW + 60, NOW)
    assert layer.drop_tags(["account:A1"], scope="alice") == 1
    assert a1 not in layer
    assert b1 in layer
    assert a2 in layer
    assert layer.drop_tags(["account:A1"]) == 1
    assert b1 not in layer
    layer.put(b1, entry(), NOW + 60, NOW)
    assert layer.drop_principal("alice") == 1
    assert a2 not in layer
    assert b1 in layer
    assert layer.drop_key(b1) == 1
    layer.put(a1, entry(), NOW + 60, NOW)
    assert layer.drop_all() == 1
    assert len(layer) == 0
    assert layer.stats().bytes == 0


def test_least_recently_used_goes_first_and_bytes_stay_bounded() -> None:
    one = entry_size(key("p0"), entry(b"x" * 1000))
    layer = HotLayer(max_bytes=3 * one, max_entry_bytes=one)
    keys = [key(f"p{i}") for i in range(4)]
    for k in keys[:3]:
        assert layer.put(k, entry(b"x" * 1000), NOW + 60, NOW)
    assert layer.get(keys[0], NOW) is not None  # p0 used: p1 is now the oldest
    layer.put(keys[3], entry(b"x" * 1000), NOW + 60, NOW)
    assert keys[1] not in layer
    assert all(k in layer for k in (keys[0], keys[2], keys[3]))
    assert layer.stats().bytes <= layer.max_bytes
    assert layer.stats().evictions == 1


def test_an_entry_over_the_per_entry_bound_is_not_admitted() -> None:
    layer = HotLayer(max_bytes=10_000, max_entry_bytes=2_000)
    assert not layer.put(key("a"), entry(b"x" * 2_000), NOW + 60, NOW)
    assert layer.put(key("a"), entry(b"x" * (2_000 - ENTRY_OVERHEAD - 200)), NOW + 60, NOW)


def test_replacing_an_entry_keeps_the_byte_count_and_indexes_right() -> None:
    layer = HotLayer(1 << 20)
    k = key("a")
    layer.put(k, entry(b"x" * 100, tags=("old",)), NOW + 60, NOW)
    layer.put(k, entry(b"y" * 10, tags=("new",)), NOW + 60, NOW)
    assert layer.stats().bytes == entry_size(k, entry(b"y" * 10, tags=("new",)))
    assert layer.drop_tags(["old"]) == 0
    assert layer.drop_tags(["new"]) == 1


def test_a_non_positive_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        HotLayer(0)


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "get", "drop_tag", "drop_principal", "tick"]),
        st.integers(0, 5),  # principal
        st.integers(0, 3),  # path / tag
        st.integers(1, 3000),  # body size / ttl / seconds
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_never_across_identities_past_windows_after_drops_or_over_budget(
    ops: list[tuple[str, int, int, int]],
) -> None:
    """Against a model: whatever ``get`` returns is the entry last put under that very key,
    not dropped since, inside its windows; the byte count never exceeds the budget."""
    layer = HotLayer(max_bytes=12_000, max_entry_bytes=4_000)
    model: dict[str, tuple[CacheEntry, float]] = {}
    now = NOW
    for op, p, n, size in ops:
        k = key(f"p{p}", f"/v1/accounts/A{n}")
        if op == "put":
            e = entry(f"{p}:{n}:".encode() + b"x" * size, tags=(f"account:A{n}",))
            if layer.put(k, e, now + size / 100, now):
                model[k] = (e, now + size / 100)
        elif op == "get":
            got = layer.get(k, now)
            if got is not None:
                assert k in model
                assert got == model[k][0]
                assert now < model[k][1]
                assert got.body.startswith(f"{p}:{n}:".encode())
        elif op == "drop_tag":
            layer.drop_tags([f"account:A{n}"])
            model = {m: v for m, v in model.items() if f"account:A{n}" not in v[0].tags}
        elif op == "drop_principal":
            layer.drop_principal(f"p{p}")
            model = {m: v for m, v in model.items() if not m.startswith(key(f"p{p}")[:-32])}
        else:
            now += size / 1000
        assert layer.stats().bytes <= layer.max_bytes
