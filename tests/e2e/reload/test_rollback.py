"""Automatic rollback over real HTTP and Redis, on two zproxy processes sharing one Redis: a
reload that makes requests fail (an upstream timeout far below the slowed fake Zuora's
latency) is rolled back by itself on both, within ``ZPROXY_ROLLBACK_WINDOW``; a harmless
reload stays."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.reload.test_reload import config_of, log_events
from tests.support import eventually, write_config, zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import Caller, admin, caller
from tests.support.metrics import metrics

WINDOW = 5
ENV = {"ZPROXY_ROLLBACK_WINDOW": str(WINDOW)}
#: Zuora answers in 0.3 s: well inside the shipped test timeouts (read 2 s, total 3 s).
SLOW = {"mode": "slow", "latency_ms": 300}
BAD = {"upstream": {"connect_timeout": 0.05, "read_timeout": 0.05, "total_timeout": 0.1}}


async def traffic(c: Caller, account: str, stop: asyncio.Event, statuses: list[int]) -> None:
    """Reads of keys never cached (each a miss that reaches Zuora)."""
    n = 0
    while not stop.is_set():
        n += 1
        statuses.append((await c.get(f"/v1/accounts/{account}?n={id(statuses)}-{n}")).status)


async def rollbacks(http: aiohttp.ClientSession, zp: Any) -> float:
    return (await metrics(http, zp)).get("zproxy_config_rollbacks_total", 0.0)


async def test_a_reload_that_makes_requests_fail_is_rolled_back_on_every_process(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2, env=ENV) as (fz, procs),
        aiohttp.ClientSession() as http,
    ):
        callers = [await caller(http, fz, zp) for zp in procs]
        account = accounts(fz)[0]
        set_fault(fz, SLOW)
        before = [await config_of(http, zp) for zp in procs]
        assert before[0]["hash"] == before[1]["hash"]
        stop, statuses = asyncio.Event(), []
        load = [
            asyncio.create_task(traffic(callers[i % 2], account, stop, statuses)) for i in range(12)
        ]
        await eventually(lambda: len(statuses) >= 60, what="traffic before the change")
        assert set(statuses) == {200}, sorted(set(statuses))
        config = procs[0].config
        assert config is not None
        write_config(config, BAD)
        reloaded_at = time.monotonic()
        reply = await admin(http, procs[0], "POST", "/admin/config/reload")
        assert reply.status == 200, reply.body
        bad_version = reply.json()["version"]

        async def both_rolled_back() -> bool:
            now = [await config_of(http, zp) for zp in procs]
            return all(
                c["version"] == before[0]["version"] and c["hash"] == before[0]["hash"] for c in now
            )

        await eventually(both_rolled_back, timeout=WINDOW * 4, what="the rollback everywhere")
        took = time.monotonic() - reloaded_at
        stop.set()
        await asyncio.gather(*load)

        assert any(s >= 500 for s in statuses), "the bad config never made a request fail"
        assert sum([await rollbacks(http, zp) for zp in procs]) >= 1
        decided = [
            e for zp in procs for e in log_events(zp) if e.get("event") == "config_rolled_back"
        ]
        automatic = [e for e in decided if "failed_after" in e]
        assert automatic, decided
        assert automatic[0]["level"] == "error"
        assert automatic[0]["failed_before"] == 0
        assert automatic[0]["failed_after"] > 0.02
        assert automatic[0]["requests_after"] >= 20
        assert automatic[0]["undone"]["version"] == bad_version
        # Every process reloaded the bad config before it was undone (the fleet followed).
        for zp in procs:
            assert any(e.get("event") == "config_reloaded" for e in log_events(zp))
        print(f"bad reload -> rolled back on both processes: {took:.2f} s (window {WINDOW} s)")


async def test_a_harmless_reload_stays(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2, env=ENV) as (fz, procs),
        aiohttp.ClientSession() as http,
    ):
        callers = [await caller(http, fz, zp) for zp in procs]
        account = accounts(fz)[0]
        stop, statuses = asyncio.Event(), []
        load = [
            asyncio.create_task(traffic(callers[i % 2], account, stop, statuses)) for i in range(6)
        ]
        await eventually(lambda: len(statuses) >= 40, what="traffic before the change")
        config = procs[0].config
        assert config is not None
        write_config(config, {"retry": {"max_attempts": 3}})
        reply = await admin(http, procs[0], "POST", "/admin/config/reload")
        assert reply.status == 200, reply.body
        new = reply.json()

        async def settled() -> bool:
            states = [await config_of(http, zp) for zp in procs]
            return not any(s["watching"] for s in states) and all(
                s["hash"] == new["hash"] for s in states
            )

        await eventually(settled, timeout=WINDOW * 4, what="the end of the watch")
        stop.set()
        await asyncio.gather(*load)
        assert set(statuses) == {200}, sorted(set(statuses))
        for zp in procs:
            state = await config_of(http, zp)
            assert state["version"] == new["version"]
            assert await rollbacks(http, zp) == 0
            assert any(e.get("event") == "config_kept" for e in log_events(zp))
