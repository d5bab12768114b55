"""Issue 10's failover test: two zproxy processes on a Sentinel set with ``replicated``
durability, during a Zuora outage. ``kill -9`` of the Redis primary mid-outage: zproxy keeps
answering (writes a truthful 503 ``queued: false``, reads stale or 503, never a 500), follows
the promotion by itself and 202s resume; once Zuora recovers every 202, before and after the
kill, is applied exactly once in per-account order (the fake's ledger is the witness).

The timeline (kill, promotion seen by every sentinel, first 202 again per process) is printed,
not asserted: speed belongs in benchmarks."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.writes.helpers import (
    QUICK_BREAKERS,
    Sent,
    assert_accepted,
    assert_refused,
    drained,
    ledger_seqs,
    put_account,
)
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import Reply, bearer, request
from zproxy.testing.proxy_process import ZproxyProcess
from zproxy.testing.redis_sets import SentinelSet

REPLICATED = {"ZPROXY_QUEUE_DURABILITY": "replicated"}
OVERRIDES: dict[str, Any] = {**QUICK_BREAKERS, "queue": {"lease_seconds": 3}}
ACCOUNTS = 6
AFTER = 12  # 202s to collect after the promotion
#: Reads that may answer while Redis or Zuora is away: stale from the cache, or a truthful 503.
READ_STATUSES = {200, 503}


class Writer:
    """Numbered PUTs over a few accounts, alternating between the processes."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        procs: list[ZproxyProcess],
        token: str,
        accounts: list[str],
    ) -> None:
        self.http, self.procs, self.token, self.accounts = http, procs, token, accounts
        self.sent = Sent()
        self.sent_count = 0
        self._next = dict.fromkeys(accounts, 0)

    async def write(self) -> tuple[ZproxyProcess, Reply]:
        i = self.sent_count
        self.sent_count += 1
        account = self.accounts[i % len(self.accounts)]
        proc = self.procs[i % len(self.procs)]
        seq = self._next[account]
        self._next[account] = seq + 1
        reply = await put_account(self.http, proc, self.token, account, seq)
        self.sent.by_account[account].append((seq, reply))
        return proc, reply

    def accepted_seqs(self) -> dict[str, list[int]]:
        return {
            account: [seq for seq, reply in replies if reply.status == 202]
            for account, replies in self.sent.by_account.items()
        }


async def _read(
    http: aiohttp.ClientSession, proc: ZproxyProcess, token: str, account: str
) -> Reply:
    reply = await request(http, "GET", f"{proc.url}/v1/accounts/{account}", headers=bearer(token))
    assert reply.status in READ_STATUSES, (reply.status, reply.body)
    if reply.status == 503:
        assert reply.json()["success"] is False  # Zuora-shaped, no internals
    return reply


async def _through_the_failover(
    sentinels: SentinelSet,
    writer: Writer,
    token: str,
) -> dict[str, float]:
    """Kill the primary, then write and read until every process has answered 202 again
    AFTER times after the sentinels agreed on a new primary; the timeline in seconds."""
    loop = asyncio.get_running_loop()
    statuses: Counter[int] = Counter()
    t_kill = loop.time()
    old = await asyncio.to_thread(sentinels.kill_primary)
    promotion = asyncio.create_task(asyncio.to_thread(sentinels.wait_for_promotion, old, 60))
    t_promoted: float | None = None
    first_202: dict[int, float] = {}
    first_503: float | None = None
    accepted_after = 0
    deadline = t_kill + 90
    while accepted_after < AFTER or len(first_202) < len(writer.procs):
        assert loop.time() < deadline, f"202s did not resume: {statuses}"
        proc, reply = await writer.write()
        statuses[reply.status] += 1
        if reply.status == 503:
            assert_refused(reply)  # truthful: queued false, Retry-After
            first_503 = first_503 or loop.time()
        else:
            assert_accepted(reply)
        if t_promoted is None and promotion.done():
            await promotion
            t_promoted = loop.time()
        if reply.status == 202 and t_promoted is not None:
            first_202.setdefault(writer.procs.index(proc), loop.time())
            accepted_after += 1
        await _read(writer.http, proc, token, writer.accounts[0])
        await asyncio.sleep(0.02)
    assert statuses[503] > 0, statuses  # the test did write while Redis was away
    assert t_promoted is not None
    timeline = {
        "first_503": (first_503 or t_kill) - t_kill,
        "promotion_seen": t_promoted - t_kill,
        **{f"first_202_zp{i}": t - t_kill for i, t in sorted(first_202.items())},
    }
    print(f"\nfailover timeline (s after kill -9): {timeline}; answers {dict(statuses)}")
    return timeline


async def test_kill_9_of_the_primary_mid_outage_loses_no_accepted_write(
    tmp_path: Path, http: aiohttp.ClientSession, two_replica_set: SentinelSet
) -> None:
    async with zproxy_stack(
        tmp_path, two_replica_set.url, overrides=OVERRIDES, env=REPLICATED, processes=2
    ) as (fz, procs):
        token = await fz.token(http)
        accounts = fake.accounts(fz)[:ACCOUNTS]
        for proc in procs:  # warm the cache: a stale entry to serve during the outage
            assert (await _read(http, proc, token, accounts[0])).status == 200
        fake.set_fault(fz, mode="down")
        writer = Writer(http, procs, token, accounts)
        for _ in range(3 * ACCOUNTS):
            _, reply = await writer.write()
            assert_accepted(reply)
        assert (await _read(http, procs[0], token, accounts[0])).status == 200  # stale

        await _through_the_failover(two_replica_set, writer, token)
        assert fz.fake.ledger.entries == []  # Zuora was down throughout

        fake.set_fault(fz, mode="up")

        async def all_drained() -> bool:
            return all([await drained(http, proc) for proc in procs])

        await eventually(all_drained, timeout=60, what="queues drained")
        accepted = writer.accepted_seqs()
        applied = ledger_seqs(fz)
        # Every 202 applied once, in the order sent; no refused write applied.
        assert {a: applied.get(a, []) for a in accounts} == accepted
        assert sum(len(s) for s in accepted.values()) >= 3 * ACCOUNTS + AFTER


async def test_replicated_with_the_replica_stopped_refuses_and_is_unready(
    tmp_path: Path, http: aiohttp.ClientSession, one_replica_set: SentinelSet
) -> None:
    async with zproxy_stack(tmp_path, one_replica_set.url, overrides=OVERRIDES, env=REPLICATED) as (
        fz,
        procs,
    ):
        proc = procs[0]
        token = await fz.token(http)
        accounts = fake.accounts(fz)[:2]
        fake.set_fault(fz, mode="down")
        writer = Writer(http, procs, token, accounts)
        _, reply = await writer.write()
        assert_accepted(reply)
        assert (await request(http, "GET", proc.admin_url + "/readyz")).status == 200

        primary = one_replica_set.primary_address()
        (replica,) = [n for n in one_replica_set.data_nodes if n.address != primary]
        await asyncio.to_thread(replica.kill)

        async def refused() -> bool:
            _, reply = await writer.write()
            if reply.status == 202:
                return False  # the primary has not noticed the replica is gone yet
            assert_refused(reply)
            return True

        await eventually(refused, timeout=30, what="a 503 queued:false")
        for _ in range(3):  # and from then on, every queueable write
            _, reply = await writer.write()
            assert_refused(reply)
        ready = await request(http, "GET", proc.admin_url + "/readyz")
        assert ready.status == 503
        assert any("no replica" in reason for reason in ready.json()["reasons"]), ready.json()

        fake.set_fault(fz, mode="up")
        await eventually(lambda: drained(http, proc), timeout=60, what="queue drained")
        accepted = writer.accepted_seqs()
        applied = ledger_seqs(fz)
        assert {a: applied.get(a, []) for a in accepted} == accepted  # no refused write applied
