"""The hot layer across workers: a ``HotCacheStore`` per worker over one shared store, purges
announced on Redis pub/sub (fakeredis) and applied by every worker's listener."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import fakeredis
import pytest

from zproxy.clock import FakeClock
from zproxy.errors import StoreUnavailable
from zproxy.policy.keys import Hasher, Identity, cache_key
from zproxy.store.cache import CacheEntry
from zproxy.store.hot import HotLayer
from zproxy.store.hot_sync import (
    CHANNEL,
    HotCacheStore,
    apply,
    listen,
    stored_newer,
    tags_message,
)
from zproxy.store.memory import MemoryCacheStore

H = Hasher(b"hot-sync-test-secret-01234")
TTL = 300.0


def key(principal: str, account: str = "A1") -> str:
    return cache_key(H, Identity(principal=principal), "GET", f"/v1/accounts/{account}", "")


@dataclass
class Worker:
    store: HotCacheStore
    layer: HotLayer
    subscribed: asyncio.Event
    task: asyncio.Task[None]


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[FakeClock, MemoryCacheStore, list[Worker]]]:
    """Two workers (own layer, own Redis client, own listener) over one store and server."""
    clock = FakeClock()
    shared = MemoryCacheStore(clock)
    server = fakeredis.FakeServer()
    workers: list[Worker] = []
    clients = []
    for _ in range(2):
        client = fakeredis.FakeAsyncRedis(server=server)
        clients.append(client)
        layer = HotLayer(1 << 20)
        subscribed = asyncio.Event()
        task = asyncio.create_task(listen(client, layer, subscribed=subscribed))
        workers.append(Worker(HotCacheStore(shared, layer, clock, client), layer, subscribed, task))
    for w in workers:
        await asyncio.wait_for(w.subscribed.wait(), 5)
    yield clock, shared, workers
    for w in workers:
        w.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await w.task
    for client in clients:
        await client.aclose()


def entry(clock: FakeClock, body: bytes = b'{"v":1}') -> CacheEntry:
    return CacheEntry(
        200, (("Content-Type", "application/json"),), body, clock.time(), ("account:A1",)
    )


async def until_gone(layer: HotLayer, k: str) -> None:
    """The listener applies messages asynchronously: wait (bounded) until it has."""
    async with asyncio.timeout(1.0):
        while k in layer:  # noqa: ASYNC110 - the listener has no hook to wait on
            await asyncio.sleep(0.005)


async def test_a_soft_purge_in_one_worker_reaches_the_other(fleet) -> None:  # type: ignore[no-untyped-def]
    clock, _shared, (a, b) = fleet
    k = key("alice")
    await a.store.set(k, entry(clock), TTL)
    assert await b.store.get_within(k, TTL) == entry(clock)  # b now holds it
    assert k in b.layer
    await a.store.invalidate_tags(["account:A1"])
    await until_gone(b.layer, k)
    got = await b.store.get_within(k, TTL)
    assert got is not None
    assert got.invalidated
    assert k not in b.layer  # and a soft-purged entry is not held


@pytest.mark.parametrize("purge", ["tags", "principal", "all"])
async def test_every_purge_reaches_every_worker(fleet, purge: str) -> None:  # type: ignore[no-untyped-def]
    clock, _shared, (a, b) = fleet
    k = key("alice")
    await a.store.set(k, entry(clock), TTL)
    await b.store.get_within(k, TTL)
    if purge == "tags":
        await a.store.purge_tags(["account:A1"], scope="alice")
    elif purge == "principal":
        await a.store.purge_principal("alice")
    else:
        await a.store.purge_all()
    assert k not in a.layer
    await until_gone(b.layer, k)
    assert await b.store.get_within(k, TTL) is None


async def test_a_held_hit_needs_no_store_but_only_inside_its_windows(fleet) -> None:  # type: ignore[no-untyped-def]
    clock, shared, (a, _b) = fleet
    k = key("alice")
    await a.store.set(k, entry(clock), TTL)
    shared.available = False  # Redis unreachable
    assert await a.store.get(k) == entry(clock)
    clock.advance(TTL)  # past fresh + max(swr, sie): never served from the layer
    with pytest.raises(StoreUnavailable):
        await a.store.get(k)


async def test_identities_do_not_share_held_entries(fleet) -> None:  # type: ignore[no-untyped-def]
    clock, _shared, (a, _b) = fleet
    await a.store.set(key("alice"), entry(clock, b"alice"), TTL)
    assert await a.store.get_within(key("bob"), TTL) is None
    await a.store.set(key("bob"), entry(clock, b"bob"), TTL)
    alice, bob = await a.store.get(key("alice")), await a.store.get(key("bob"))
    assert alice is not None
    assert alice.body == b"alice"
    assert bob is not None
    assert bob.body == b"bob"


async def test_an_unreadable_message_drops_everything(fleet) -> None:  # type: ignore[no-untyped-def]
    clock, _shared, (a, b) = fleet
    await a.store.set(key("alice"), entry(clock), TTL)
    await b.store.get_within(key("alice"), TTL)
    assert apply(b.layer, b"not json") == 1
    assert apply(a.layer, tags_message(["other"])) == 0
    assert key("alice") in a.layer


async def test_a_message_published_by_anyone_is_applied() -> None:
    layer = HotLayer(1 << 20)
    clock = FakeClock()
    layer.put(key("alice"), entry(clock), clock.time() + TTL, clock.time())
    server = fakeredis.FakeServer()
    client = fakeredis.FakeAsyncRedis(server=server)
    subscribed = asyncio.Event()
    task = asyncio.create_task(listen(client, layer, subscribed=subscribed))
    await asyncio.wait_for(subscribed.wait(), 5)
    assert len(layer) == 0  # emptied when (re)subscribed: messages may have been missed
    layer.put(key("alice"), entry(clock), clock.time() + TTL, clock.time())
    other = fakeredis.FakeAsyncRedis(server=server)
    await other.publish(CHANNEL, tags_message(["account:A1"]))
    await until_gone(layer, key("alice"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.aclose()
    await other.aclose()


async def test_get_reads_what_another_worker_stored_not_the_held_copy(fleet) -> None:  # type: ignore[no-untyped-def]
    """A coalescing waiter polls ``get`` for the answer another worker is storing: the copy
    this worker holds must not hide it; ``stored_newer`` then holds the newer one."""
    clock, _shared, (a, b) = fleet
    k = key("alice")
    old = entry(clock, b"old")
    await a.store.set(k, old, TTL)
    assert await b.store.get_within(k, TTL) == old  # b holds the old one
    clock.advance(5)
    new = entry(clock, b"new")
    await a.store.set(k, new, TTL)
    assert await b.store.get_within(k, TTL) == old  # held: served while inside its windows
    assert await b.store.get(k) == new
    assert await stored_newer(b.store, k, TTL, old)
    assert await b.store.get_within(k, TTL) == new
    assert not await stored_newer(b.store, k, TTL, new)
