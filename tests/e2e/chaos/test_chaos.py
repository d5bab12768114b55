"""Chaos (issue 12): two zproxy processes on one Redis of the test's own, the fake Zuora, and
steady mixed traffic (~65 req/s) over six credentials in three tenants while Zuora answers
503s, hangs and drops connections in turn, one zproxy is killed with ``kill -9`` (and
restarted) while writes are queued, and Redis is restarted while the queue drains.

The fake's ledger is the witness: every 202 applied exactly once, in per-account order; no
payment queued; no 500; no read carried another tenant's data. Figures (requests, 202s,
applied, duplicates, 500s, p99 per phase) are printed, never asserted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.chaos.traffic import Caller, Sample, Traffic, tenant_view
from tests.e2e.chaos.verdict import applied_tags, figures, judge
from tests.support import eventually, restart, zproxy_stack
from tests.support.fake import set_fault
from tests.support.http import ADMIN_TOKEN, admin, oauth_token
from tests.support.metrics import metric
from zproxy.store.embedded import RedisServer
from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.proxy_process import ZproxyProcess

pytestmark = pytest.mark.slow

LEASE = 5
#: Breakers that recover within a phase; timeouts long enough for stale-if-slow to matter.
OVERRIDES: dict[str, Any] = {
    "breakers": {"defaults": {"reset_timeout": 1, "fail_max": 3}},
    "queue": {"lease_seconds": LEASE},
    "upstream": {"read_timeout": 4, "total_timeout": 6},
}
TENANTS = (1, 2, 3)
CLIENTS = {f"0b3f8f0e-{i:04d}-4c6e-9a55-3f1d2c4b5a60": f"chaos-secret-{i}" for i in range(6)}
CLIENT_TENANT = {cid: TENANTS[i % len(TENANTS)] for i, cid in enumerate(CLIENTS)}

Step = Callable[[], Awaitable[None]]


async def _phase(traffic: Traffic, name: str, seconds: float, *steps: tuple[float, Step]) -> None:
    """``seconds`` of traffic labelled ``name``; each step runs at its offset into the phase."""
    traffic.phase = name
    elapsed = 0.0
    for at, step in steps:
        await asyncio.sleep(at - elapsed)
        await step()
        elapsed = max(at, elapsed)
    await asyncio.sleep(max(0.0, seconds - elapsed))


async def _ledger(session: aiohttp.ClientSession, fz: RunningFakeZuora) -> list[str]:
    async with session.get(fz.url + "/__fake/ledger") as resp:
        return applied_tags((await resp.json())["entries"])


async def _drained(session: aiohttp.ClientSession, procs: list[ZproxyProcess]) -> bool:
    depths = [await metric(session, p, "zproxy_write_queue_depth") for p in procs]
    return all(d == 0 for d in depths)


async def _records(
    session: aiohttp.ClientSession,
    proc: ZproxyProcess,
    samples: list[Sample],
    tags: Mapping[str, int],
) -> str:
    """The queue's record of the first writes that were not applied once: a failure's clue."""
    ids = {s.tag: s.write_id for s in samples if s.tag in tags}
    lines = []
    for tag in sorted(tags)[:6]:
        reply = await admin(session, proc, "GET", f"/admin/writes/{ids[tag]}")
        lines.append(f"{tag} {ids[tag]}: {reply.status} {reply.text[:600]}")
    return "\n".join(lines)


async def test_chaos(tmp_path: Path, own_redis: RedisServer) -> None:
    fake_kwargs = {"clients": CLIENTS, "tenants": CLIENT_TENANT}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session,
        zproxy_stack(
            tmp_path,
            own_redis.url,
            processes=2,
            overrides=OVERRIDES,
            fake_kwargs=fake_kwargs,
            env={"ZPROXY_ADMIN_TOKEN": ADMIN_TOKEN},
        ) as (fz, procs),
    ):
        callers = [
            Caller(await oauth_token(session, procs[i % 2].url, cid, secret), CLIENT_TENANT[cid])
            for i, (cid, secret) in enumerate(CLIENTS.items())
        ]
        traffic = Traffic(
            session, callers, {t: tenant_view(fz, t) for t in TENANTS}, live=list(procs)
        )
        victim = procs[1]

        async def kill() -> None:
            traffic.live.remove(victim)
            victim.kill()  # kill -9, with writes queued and claimed

        async def revive() -> None:
            new = await restart(procs, victim).astart()
            traffic.live.append(new)

        async def restart_redis() -> None:
            await asyncio.to_thread(own_redis.stop)
            await asyncio.sleep(1)
            await asyncio.to_thread(own_redis.start)

        def fault(mode: str) -> Step:
            async def step() -> None:
                set_fault(fz, mode=mode)

            return step

        running = asyncio.create_task(traffic.run())
        try:
            await _phase(traffic, "warm-up", 4)
            await _phase(traffic, "503", 8, (0, fault("down")), (3, kill), (5, revive))
            await _phase(traffic, "recover-1", 5, (0, fault("up")))
            await _phase(traffic, "hang", 8, (0, fault("timeout")))
            await _phase(traffic, "recover-2", 5, (0, fault("up")))
            await _phase(traffic, "reset", 8, (0, fault("reset")))
            await _phase(traffic, "recover-3", 1, (0, fault("up")))
            await _phase(traffic, "redis-down", 0, (0, restart_redis))
            await _phase(traffic, "redis-back", 7)
        finally:
            traffic.stop()
            await running

        live = traffic.live
        accepted = {s.tag for s in traffic.samples if s.status == 202 and s.tag}

        async def all_applied() -> bool:
            return accepted <= set(await _ledger(session, fz))

        with contextlib.suppress(AssertionError):  # the verdict names what never came
            await eventually(all_applied, timeout=60, every=0.5)
            await eventually(lambda: _drained(session, live), timeout=30, every=0.5)
        await asyncio.sleep(LEASE + 1)  # a lapsed lease would resend now
        tags = await _ledger(session, fz)

        verdict = judge(traffic.samples, tags)
        print("\nchaos figures\n" + figures(traffic.samples, tags, verdict))
        if verdict.not_once:
            print(await _records(session, live[0], traffic.samples, verdict.not_once))
        assert verdict.faults == {}
        assert traffic.leaks == []
        assert verdict.accepted  # the outage phases queued writes
