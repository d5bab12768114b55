"""Writes waiting in the queue: a new live write to the same order key joins them instead of
overtaking; the in-process view of pending order keys (reads' ``detail=pending-writes``)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.e2e.writes.helpers import assert_accepted, drained, ledger_seqs, put_account
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import admin, set_mode
from tests.support.queue import KEY, T0, make_write
from zproxy.queue.crypto import Cipher
from zproxy.queue.pending import PendingKeys, order_key_hash
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.queue.service import with_detail
from zproxy.testing.proxy_process import ZproxyProcess


async def test_live_write_queues_behind_writes_of_its_account(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        await set_mode(http, proc, "force_open")
        for seq in range(3):
            assert_accepted(await put_account(http, proc, token, "A00000001", seq))
        # Zuora is back but slow: the queued writes take a while to replay.
        fake.set_fault(fz, mode="slow", latency_ms=1000)
        await set_mode(http, proc, "auto")
        behind = await put_account(http, proc, token, "A00000001", 3)
        assert_accepted(behind)  # joins its account's line instead of overtaking it
        await eventually(lambda: _writes_breaker(http, proc, "closed"))
        other = await put_account(http, proc, token, "A00000002", 0)
        assert other.status == 200  # an account with nothing queued goes straight through
        await eventually(lambda: drained(http, proc))
        assert ledger_seqs(fz)["A00000001"] == [0, 1, 2, 3]


async def _writes_breaker(http: aiohttp.ClientSession, proc: ZproxyProcess, state: str) -> bool:
    reply = await admin(http, proc, "GET", "/admin/breaker")
    return bool(reply.json()["groups"]["writes"]["state"] == state)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("zproxy; hit; ttl=42", "zproxy; hit; ttl=42; detail=pending-writes"),
        (
            "zproxy; hit; detail=stale-if-error",
            'zproxy; hit; detail="stale-if-error pending-writes"',
        ),
        (
            'zproxy; hit; fwd=stale; detail="revalidating x"',
            'zproxy; hit; fwd=stale; detail="revalidating x pending-writes"',
        ),
        ("zproxy; fwd=miss; detail=pending-writes", "zproxy; fwd=miss; detail=pending-writes"),
    ],
)
def test_cache_status_gets_one_detail_parameter(before: str, after: str) -> None:
    assert with_detail(before, "pending-writes") == after


def test_pending_keys_settle_races_with_marks() -> None:
    pending = PendingKeys()
    assert not pending
    assert not pending.has("account:A1")
    pending.add("account:A1")
    assert pending.has("account:A1")
    assert pending.any_of(["x", "account:A1"])
    assert not pending.any_of(["account:A2"])

    mark = pending.mark()
    pending.add("account:A1")  # queued again while the line was being checked
    pending.discard_if_quiet("account:A1", mark)
    assert pending.has("account:A1")
    pending.discard_if_quiet("account:A1", pending.mark())
    assert not pending

    mark = pending.mark()
    pending.add("account:A3")  # queued here after the refresh started reading Redis
    pending.replace({order_key_hash("account:A2")}, mark)
    assert pending.has("account:A2")
    assert pending.has("account:A3")
    pending.replace(set(), pending.mark())
    assert not pending


async def test_pending_view_follows_the_redis_queue(redis_url: str) -> None:
    client = queue_redis_client(redis_url)
    queue = RedisWriteQueue(client, Cipher({"k1": KEY}))
    try:
        assert (await queue.init()).ok
        await queue.enqueue(make_write(1, order_key="account:A1"))
        await queue.enqueue(make_write(2, order_key="account:A1"))
        await queue.enqueue(make_write(1, order_key="account:A2"))
        pending = PendingKeys()
        pending.replace(await queue.pending_order_hashes(), pending.mark())
        assert pending.has("account:A1")
        assert pending.has("account:A2")
        assert not pending.has("account:A3")
        assert await queue.line_length("account:A1") == 2

        claims = await queue.claim("c1", T0, 30, 10)
        for claim in claims:
            assert await queue.mark_applied(claim, 200, b"{}", T0)
        assert await queue.line_length("account:A1") == 1
        assert await queue.line_length("account:A2") == 0
        pending.replace(await queue.pending_order_hashes(), pending.mark())
        assert pending.has("account:A1")
        assert not pending.has("account:A2")
    finally:
        await client.aclose()


async def test_reads_of_an_account_with_queued_writes_say_so(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        headers = {"Authorization": f"Bearer {token}"}

        async def cache_status(account: str) -> str:
            async with http.get(f"{proc.url}/v1/accounts/{account}", headers=headers) as resp:
                assert resp.status == 200
                return resp.headers["Cache-Status"]

        assert "pending-writes" not in await cache_status("A00000001")
        await set_mode(http, proc, "force_open", "writes")
        assert_accepted(await put_account(http, proc, token, "A00000001", 0))
        status = await cache_status("A00000001")
        assert status.startswith("zproxy; hit; ttl=")
        assert status.endswith("; detail=pending-writes")
        assert "pending-writes" not in await cache_status("A00000002")
        await set_mode(http, proc, "auto", "writes")
        await eventually(lambda: drained(http, proc))

        async def settled() -> bool:
            return "pending-writes" not in await cache_status("A00000001")

        await eventually(settled)
