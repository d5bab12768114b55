"""Durability: kill -9 of zproxy mid-replay, kill -9 of Redis after the 202s, and a Redis
without AOF (never a 202)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import (
    assert_accepted,
    assert_refused,
    drained,
    ledger_seqs,
    order_key,
    post_keys,
    post_order,
    put_account,
    without_repeats,
)
from tests.support import eventually, fake, restart, zproxy_stack
from tests.support.http import request, set_mode
from tests.support.metrics import metric
from zproxy.store.embedded import RedisServer, free_port
from zproxy.testing.fake_zuora import RunningFakeZuora

#: Leases lapse quickly, so writes held by a killed zproxy are taken over within seconds.
SHORT_LEASES = {"queue": {"lease_seconds": 1.5, "replay_concurrency": 4}}


async def test_kill_9_during_replay_loses_and_duplicates_nothing(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url, overrides=SHORT_LEASES) as (fz, procs):
        first = procs[0]
        token = await fz.token(http)
        plan = fake.rate_plan(fz)
        accounts = fake.accounts(fz)[:12]
        await set_mode(http, first, "force_open")

        async def one_account(account: str) -> None:
            for seq in range(6):
                if seq % 3 == 1:
                    reply = await post_order(http, first, token, account, plan, seq)
                else:
                    reply = await put_account(http, first, token, account, seq)
                assert_accepted(reply)

        await asyncio.gather(*(one_account(a) for a in accounts))
        fake.set_fault(fz, mode="slow", latency_ms=40)
        await set_mode(http, first, "auto")
        await eventually(lambda: _ledger_at_least(fz, 15), every=0.01)
        first.kill()  # mid-replay: several writes are in flight at the fake
        applied_before = len(fz.fake.ledger.entries)
        assert applied_before < len(accounts) * 6

        second = await restart(procs, first).astart()
        await eventually(lambda: drained(http, second), timeout=60)

        keys = Counter(post_keys(fz))
        assert keys == Counter({order_key(a, s): 1 for a in accounts for s in (1, 4)})
        seqs = ledger_seqs(fz)
        for account in accounts:
            assert without_repeats(seqs[account]) == list(range(6)), seqs[account]
        assert await metric(http, second, "zproxy_write_queue_dead") == 0


async def _ledger_at_least(fz: RunningFakeZuora, n: int) -> bool:
    return len(fz.fake.ledger.entries) >= n


async def test_kill_9_of_redis_after_the_202s_loses_nothing(
    tmp_path: Path, own_redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, own_redis.url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        await set_mode(http, proc, "force_open")
        accounts = fake.accounts(fz)[:10]
        for seq in range(3):
            for account in accounts:
                assert_accepted(await put_account(http, proc, token, account, seq))

        own_redis.kill()
        for account in accounts[:3]:
            assert_refused(await put_account(http, proc, token, account, 99))
        ready = await request(http, "GET", proc.admin_url + "/readyz")
        assert ready.status == 503

        own_redis.start()  # same data dir: the AOF holds every write answered 202
        await set_mode(http, proc, "auto")
        await eventually(lambda: drained(http, proc), timeout=60)
        seqs = ledger_seqs(fz)
        assert {a: seqs[a] for a in accounts} == {a: [0, 1, 2] for a in accounts}
        assert (await request(http, "GET", proc.admin_url + "/readyz")).status == 200


async def test_redis_without_aof_never_answers_202(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    volatile = RedisServer(tmp_path / "volatile", port=free_port(), appendonly=False)
    volatile.start()
    try:
        async with zproxy_stack(tmp_path, volatile.url) as (fz, procs):
            proc = procs[0]
            token = await fz.token(http)
            await set_mode(http, proc, "force_open")
            assert_refused(await put_account(http, proc, token, "A00000001", 1))
            assert await metric(http, proc, "zproxy_write_durable") == 0
            ready = await request(http, "GET", proc.admin_url + "/readyz")
            assert ready.status == 503
            assert any("appendonly" in r for r in ready.json()["reasons"]), ready.body
            await set_mode(http, proc, "auto")
            # With Zuora up the write is simply forwarded.
            assert (await put_account(http, proc, token, "A00000001", 2)).status == 200
            assert ledger_seqs(fz) == {"A00000001": [2]}
    finally:
        volatile.kill()
