"""Redis restarts under a running zproxy (issue 12): a real zproxy process on a redis-server
of the test's own (stopped and started on the same port and AOF), the fake Zuora upstream,
and its ledger as the witness of what was applied."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import eventually, zproxy_stack
from zproxy.store.embedded import RedisServer
from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.faults import parse_rule
from zproxy.testing.proxy_process import ZproxyProcess

#: Breakers that recover quickly; a short lease, so a resend would come within the test.
OVERRIDES: dict[str, Any] = {
    "breakers": {"defaults": {"reset_timeout": 0.5, "fail_max": 3}},
    "queue": {"lease_seconds": 3},
    "upstream": {"read_timeout": 10, "total_timeout": 12},
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _fault(fz: RunningFakeZuora, **rule: Any) -> None:
    fz.fake.set_fault(parse_rule(rule))


async def _restart(redis: RedisServer) -> None:
    await asyncio.to_thread(redis.stop)
    await asyncio.to_thread(redis.start)


async def _status(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def _ready(http: aiohttp.ClientSession, proc: ZproxyProcess) -> bool:
    async with http.get(proc.admin_url + "/readyz") as resp:
        return resp.status == 200


async def _accounts(http: aiohttp.ClientSession, fz: RunningFakeZuora) -> list[str]:
    async with http.get(fz.url + "/__fake/seed-info") as resp:
        return [str(a) for a in (await resp.json())["accounts"]]


def _bearer(token: str) -> Mapping[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _traffic(
    http: aiohttp.ClientSession, proc: ZproxyProcess, token: str, accounts: list[str], tag: str
) -> Counter[tuple[str, int]]:
    """50 reads and 20 writes at once; their statuses, counted by kind."""
    reads = [
        _status(http, "GET", f"{proc.url}/v1/accounts/{accounts[i % 10]}", headers=_bearer(token))
        for i in range(50)
    ]
    writes = [
        _status(
            http,
            "PUT",
            f"{proc.url}/v1/accounts/{accounts[10 + i]}",
            json={"notes": f"{tag} {i}"},
            headers=_bearer(token),
        )
        for i in range(20)
    ]
    answers = await asyncio.gather(*reads, *writes)
    return Counter(("read" if i < 50 else "write", status) for i, (status, _) in enumerate(answers))


async def test_no_503_from_stale_connections_once_redis_is_back(
    tmp_path: Path, own_redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, own_redis.url, overrides=OVERRIDES) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        accounts = await _accounts(http, fz)
        # Every pooled connection of both clients in use, then left dead by the restart.
        warm = await _traffic(http, proc, token, accounts, "warm")
        assert warm == Counter({("read", 200): 50, ("write", 200): 20})
        await _restart(own_redis)
        await eventually(lambda: _ready(http, proc), timeout=30)
        after = await _traffic(http, proc, token, accounts, "after")
        assert after == Counter({("read", 200): 50, ("write", 200): 20})


async def test_put_recorded_after_a_redis_restart_is_applied_once(
    tmp_path: Path, own_redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    """Zuora applies a queued PUT (no Idempotency-Key); Redis is down when zproxy records it
    and back later: the replay is recorded then, and never sent a second time."""
    async with zproxy_stack(tmp_path, own_redis.url, overrides=OVERRIDES) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        account = (await _accounts(http, fz))[0]
        _fault(fz, mode="down")
        status, body = await _status(
            http,
            "PUT",
            f"{proc.url}/v1/accounts/{account}?seq=1",
            json={"notes": "once"},
            headers=_bearer(token),
        )
        assert status == 202, body
        location = body["statusUrl"]

        _fault(fz, mode="slow", latency_ms=2000)  # replaces "down": the replay takes 2 s

        async def replay_in_flight() -> bool:
            return fz.fake.stats.in_flight > 0

        await eventually(replay_in_flight, timeout=30, every=0.02)
        await asyncio.to_thread(own_redis.stop)  # Zuora has the write; Redis goes away

        def applied() -> list[str]:
            return [e.path for e in fz.fake.ledger.entries if e.path.endswith("seq=1")]

        async def answered() -> bool:
            return len(applied()) > 0

        async def record_failed() -> bool:
            logs = proc.logs()
            return "replay.record_retry" in logs or "replay.outcome_not_recorded" in logs

        await eventually(answered, timeout=30)
        await eventually(record_failed, timeout=30)
        await asyncio.to_thread(own_redis.start)

        async def state() -> Any:
            _, record = await _status(http, "GET", proc.url + location, headers=_bearer(token))
            return record.get("state")

        async def recorded() -> bool:
            return await state() == "applied"

        await eventually(recorded, timeout=30)
        _fault(fz, mode="up")
        await asyncio.sleep(2 * OVERRIDES["queue"]["lease_seconds"])  # a lapsed lease resends
        assert await state() == "applied"
        assert len(applied()) == 1, applied()


async def test_token_grant_answers_200_with_redis_stopped(
    tmp_path: Path, own_redis: RedisServer, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, own_redis.url, overrides=OVERRIDES) as (fz, procs):
        proc = procs[0]
        await asyncio.to_thread(own_redis.stop)
        form = {
            "client_id": fz.client_id,
            "client_secret": fz.client_secret,
            "grant_type": "client_credentials",
        }
        status, body = await _status(http, "POST", proc.url + "/oauth/token", data=form)
        assert status == 200, body
        assert body["access_token"]
        assert "grant_not_remembered" in proc.logs()
