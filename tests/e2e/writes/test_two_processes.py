"""Two zproxy processes on one Redis replay together, yet never two writes of one account at
once: the fake answers lock competition to any write that overlaps another on its account."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import assert_accepted, drained, ledger_seqs, put_account
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import set_mode
from tests.support.metrics import metric

PER_ACCOUNT = 6


async def test_two_processes_never_replay_one_account_concurrently(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url, processes=2) as (fz, procs):
        token = await fz.token(http)
        accounts = fake.accounts(fz)[:16]
        for proc in procs:
            await set_mode(http, proc, "force_open")

        async def one_account(account: str) -> None:
            for seq in range(PER_ACCOUNT):
                # Consecutive writes of one account arrive through alternate processes.
                proc = procs[seq % 2]
                assert_accepted(await put_account(http, proc, token, account, seq))

        await asyncio.gather(*(one_account(a) for a in accounts))
        fake.set_fault(fz, mode="slow", latency_ms=30)
        fake.set_fault(fz, mode="lock_competition", scope="writes", concurrent_only=True, add=True)
        for proc in procs:
            await set_mode(http, proc, "auto")
        await eventually(lambda: drained(http, procs[0]), timeout=60)

        assert fz.fake.stats.faults["lock_competition"] == 0
        seqs = ledger_seqs(fz)
        assert {a: seqs[a] for a in accounts} == {a: list(range(PER_ACCOUNT)) for a in accounts}
        applied = [
            await metric(http, proc, 'zproxy_writes_total{result="applied",route="account_update"}')
            for proc in procs
        ]
        assert all(n > 0 for n in applied), applied  # both processes took part
        assert sum(applied) == len(accounts) * PER_ACCOUNT
