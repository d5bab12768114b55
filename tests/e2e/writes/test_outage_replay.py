"""500 writes over 50 accounts accepted during an outage are applied once each, in order."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import (
    QUICK_BREAKERS,
    Sent,
    assert_accepted,
    drained,
    ledger_seqs,
    order_key,
    post_keys,
    post_order,
    put_account,
)
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import bearer, request, set_mode

WRITES_PER_ACCOUNT = 10
ORDER_SEQS = frozenset({3, 7})  # the rest are PUT /v1/accounts/{key}


async def test_outage_writes_apply_once_each_in_account_order(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url, overrides=QUICK_BREAKERS) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        accounts = fake.accounts(fz)[:50]
        plan = fake.rate_plan(fz)
        assert len(accounts) == 50
        fake.set_fault(fz, mode="down")
        sent = Sent()

        async def one_account(account: str) -> None:
            for seq in range(WRITES_PER_ACCOUNT):
                if seq in ORDER_SEQS:
                    reply = await post_order(http, proc, token, account, plan, seq)
                else:
                    reply = await put_account(http, proc, token, account, seq)
                sent.by_account[account].append((seq, reply))

        await asyncio.gather(*(one_account(a) for a in accounts))
        accepted = sent.accepted()
        # Zuora's 503s and then the open breaker: every write is queued, none refused.
        assert len(accepted) == 500
        ids = [assert_accepted(reply) for _, _, reply in accepted]
        assert len(set(ids)) == 500
        assert fz.fake.ledger.entries == []

        fake.set_fault(fz, mode="up")
        await eventually(lambda: drained(http, proc), timeout=60)

        keys = Counter(post_keys(fz))
        assert keys == Counter({order_key(a, s): 1 for a in accounts for s in ORDER_SEQS})
        seqs = ledger_seqs(fz)
        for account in accounts:
            # Every write once, in the order accepted (PUTs and orders share the line).
            assert seqs[account] == list(range(WRITES_PER_ACCOUNT)), account
        states = await asyncio.gather(
            *(
                request(http, "GET", proc.url + r.headers["Location"], headers=bearer(token))
                for _, _, r in accepted
            )
        )
        assert Counter(s.json().get("state", s.status) for s in states) == Counter({"applied": 500})
        assert all(s.json()["upstreamStatus"] == 200 for s in states)


async def test_a_burst_of_concurrent_writes_is_queued_not_refused(
    tmp_path: Path, redis_url: str
) -> None:
    """More writes at once than the Redis pool has connections: they wait, they are not 503."""
    connector = aiohttp.TCPConnector(limit=300)
    async with (
        zproxy_stack(tmp_path, redis_url) as (fz, procs),
        aiohttp.ClientSession(connector=connector) as http,
    ):
        proc = procs[0]
        token = await fz.token(http)
        accounts = fake.accounts(fz)
        await set_mode(http, proc, "force_open")
        replies = await asyncio.gather(
            *(put_account(http, proc, token, accounts[n % 50], n) for n in range(300))
        )
        assert Counter(r.status for r in replies) == Counter({202: 300})
        await set_mode(http, proc, "auto")
        await eventually(lambda: drained(http, proc), timeout=60)
        assert sum(len(s) for s in ledger_seqs(fz).values()) == 300
