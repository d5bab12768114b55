"""The in-process layer of hot entries (``zproxy.store.hot``), over real HTTP and Redis: two
zproxy processes share one Redis, each holds what it served. A purge or a write's soft purge
made through one is seen by the other within a second; no identity is answered another's
entry; nothing is served past its windows; with Redis unreachable a held entry is served
only inside its own windows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.e2e.reads.helpers import OTHER_CLIENT_ID
from tests.support import eventually, zproxy_stack
from tests.support.fake import accounts, path_count, set_fault
from tests.support.http import ADMIN, Caller, caller, request
from zproxy.store.embedded import RedisServer

MISS = "zproxy; fwd=miss; stored"
REFETCHED = "zproxy; fwd=stale; fwd-status=200; stored"
FRESH, SWR, SIE = 1.0, 1.0, 2.0
SHORT = {"account": {"read": {"fresh": FRESH, "stale_while_revalidate": SWR, "stale_if_error": 0}}}


def hit(cache_status: str) -> bool:
    return cache_status.startswith("zproxy; hit; ttl=")


async def held_by_both(path: str, first: Caller, second: Caller) -> None:
    """Stored through ``first``, then served (and so held) by ``second`` too."""
    assert (await first.get(path)).cache == MISS
    assert hit((await first.get(path)).cache)
    assert hit((await second.get(path)).cache)
    assert hit((await second.get(path)).cache)


async def within_a_second(check: Caller, path: str, expected: str) -> float:
    """Seconds until ``check`` reads ``path`` with ``expected`` Cache-Status (at most 1 s)."""
    start = time.monotonic()
    seen: list[str] = []

    async def changed() -> bool:
        seen.append((await check.get(path)).cache)
        return seen[-1] == expected

    await eventually(changed, timeout=1.0, every=0.02, what=f"{expected!r} (saw {seen[-3:]})")
    return time.monotonic() - start


async def test_a_purge_through_one_process_is_seen_by_the_other_within_a_second(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2) as (fz, [zp0, zp1]),
        aiohttp.ClientSession() as http,
    ):
        account = accounts(fz)[0]
        path = f"/v1/accounts/{account}"
        alice = await caller(http, fz, zp0)
        await held_by_both(path, alice, alice.via(zp1))
        purged = await request(
            http,
            "POST",
            zp0.admin_url + "/admin/cache/purge",
            json={"tags": [f"account:{account}"]},
            headers=ADMIN,
        )
        assert purged.status == 200, purged.body
        took = await within_a_second(alice.via(zp1), path, MISS)
        assert path_count(fz, path) == 2  # one fetch per purge: the first, and after it
        print(f"purge seen by the second process after {took * 1000:.0f} ms")


async def test_a_writes_soft_purge_is_seen_by_the_other_process(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2) as (fz, [zp0, zp1]),
        aiohttp.ClientSession() as http,
    ):
        account = accounts(fz)[1]
        path = f"/v1/accounts/{account}"
        alice = await caller(http, fz, zp0)
        await held_by_both(path, alice, alice.via(zp1))
        put = await alice.put(path, {"notes": "changed through the first process"})
        assert put.status == 200, put.body
        assert put.json()["success"] is True
        await within_a_second(alice.via(zp1), path, REFETCHED)
        after = await alice.via(zp1).get(path)
        assert hit(after.cache)
        assert after.json()["basicInfo"]["notes"] == "changed through the first process"


async def test_no_identity_is_answered_from_anothers_held_entry(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2) as (fz, [zp0, zp1]),
        aiohttp.ClientSession() as http,
    ):
        path = f"/v1/accounts/{accounts(fz)[2]}"
        alice = await caller(http, fz, zp0)
        bob = await caller(http, fz, zp1, OTHER_CLIENT_ID)
        await held_by_both(path, alice, alice.via(zp1))
        first = await bob.get(path)  # zp1 holds alice's entry: bob is still a miss
        assert first.cache == MISS
        assert hit((await bob.via(zp0).get(path)).cache)  # bob's own, from Redis
        assert path_count(fz, path) == 2  # alice's entry once, bob's once: never shared
        nobody = await request(
            http, "GET", zp1.url + path, headers={"Authorization": "Bearer not-a-token"}
        )
        assert nobody.status == 401
        assert not nobody.cache.startswith("zproxy; hit")


async def test_nothing_is_served_past_its_windows(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2, route_overrides=SHORT) as (fz, procs),
        aiohttp.ClientSession() as http,
    ):
        path = f"/v1/accounts/{accounts(fz)[0]}"
        alice = await caller(http, fz, procs[0])
        stored = time.time()
        await held_by_both(path, alice, alice.via(procs[1]))
        # past fresh + swr (no stale-if-error): both processes held it, neither serves it
        await asyncio.sleep(max(0.0, stored + FRESH + SWR + 0.3 - time.time()))
        assert (await alice.via(procs[1]).get(path)).cache == MISS  # not "fwd=stale"
        again = await alice.get(path)  # the new entry from Redis, not the old one held
        assert hit(again.cache)
        assert again.headers["Age"] == "0"
        assert path_count(fz, path) == 2


async def test_with_redis_unreachable_a_held_entry_is_served_only_inside_its_windows(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    routes = {
        "account": {"read": {"fresh": FRESH, "stale_while_revalidate": 0, "stale_if_error": SIE}}
    }
    overrides = {"redis": {"socket_timeout": 0.3}, "retry": {"max_attempts": 1}}
    async with (
        zproxy_stack(tmp_path, own_redis.url, overrides=overrides, route_overrides=routes) as (
            fz,
            [zp],
        ),
        aiohttp.ClientSession() as http,
    ):
        path = f"/v1/accounts/{accounts(fz)[0]}"
        alice = await caller(http, fz, zp)
        stored = time.time()
        assert (await alice.get(path)).cache == MISS
        good = await alice.get(path)
        assert hit(good.cache)
        own_redis.kill()
        held = await alice.get(path)  # fresh, from the layer: no Redis needed
        assert held.status == 200
        assert hit(held.cache)
        assert held.body == good.body
        set_fault(fz, {"mode": "down", "scope": "reads"})
        await asyncio.sleep(max(0.0, stored + FRESH + 0.2 - time.time()))
        stale = await alice.get(path)  # stale-if-error, still inside the entry's windows
        assert stale.status == 200
        assert stale.cache == "zproxy; hit; detail=stale-if-error"
        assert stale.body == good.body
        await asyncio.sleep(max(0.0, stored + FRESH + SIE + 0.3 - time.time()))
        gone = await alice.get(path)  # past every window: never from the layer
        assert gone.status == 503
        assert gone.json()["success"] is False
