"""A 429 storm: after Zuora's first ``429 Retry-After: 2`` nothing reaches it for 2 s (times
read on the fake's side); clients get 429 or 503 with ``Retry-After``, or the cached answer;
429s do not trip the breaker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.e2e.breaker.helpers import timed_stats
from tests.support import zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import Caller, Reply, breakers, caller
from tests.support.metrics import metrics

RETRY_AFTER = 2
WORKERS = 8
#: Keep sending this long after the first 429 (past the cooldown, so the end is observed).
STORM = RETRY_AFTER + 0.6


async def _storm(c: Caller, cached: str, uncached: str, until: float) -> list[tuple[str, Reply]]:
    """``WORKERS`` clients alternate a cached read (revalidation asked for) and an uncached
    one until ``until`` (monotonic)."""
    out: list[tuple[str, Reply]] = []

    async def worker(w: int) -> None:
        n = 0
        while time.monotonic() < until:
            n += 1
            if n % 2:
                out.append(("cached", await c.get(cached, {"Cache-Control": "no-cache"})))
            else:
                out.append(("uncached", await c.get(f"{uncached}?w={w}&n={n}")))

    await asyncio.gather(*(worker(w) for w in range(WORKERS)))
    return out


async def test_nothing_reaches_zuora_during_the_retry_after(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        c = await caller(http, fz, zp)
        first, second, *_ = accounts(fz)
        cached, uncached = f"/v1/accounts/{first}", f"/v1/accounts/{second}"
        primed = await c.get(cached)
        assert primed.status == 200
        assert primed.cache == "zproxy; fwd=miss; stored"

        stats = timed_stats(fz)
        set_fault(fz, {"mode": "ratelimit", "retry_after": RETRY_AFTER})
        reply = await c.get(uncached)
        assert reply.status == 429  # Zuora's answer, passed through
        assert reply.headers["Retry-After"] == str(RETRY_AFTER)
        [first_429] = [at for at, _, status, _ in stats.answers if status == "429"]
        arrivals = len(stats.arrivals)

        replies = await _storm(c, cached, uncached, first_429 + STORM)

        later = stats.arrivals[arrivals:]
        # the heart of it: no request reached Zuora inside the Retry-After window ...
        assert all(at >= first_429 + RETRY_AFTER for at in later), [
            round(at - first_429, 3) for at in later
        ]
        # ... and calls resumed once it was over (the storm ran past it)
        assert later, "no request went to Zuora after the cooldown"
        assert all(status == "429" for _, _, status, _ in stats.answers)

        for kind, r in replies:
            if kind == "cached":  # the stored answer, marked stale-if-error
                assert r.status == 200, r.body
                assert r.body == primed.body
                assert r.cache == "zproxy; hit; detail=stale-if-error", r.cache
            else:
                assert r.status in (429, 503), r.body
                assert int(r.headers["Retry-After"]) >= 1
        assert {r.status for kind, r in replies if kind == "uncached"} >= {503}

        groups = await breakers(http, zp)
        assert groups["reads"]["state"] == "closed"
        assert groups["reads"]["consecutive_failures"] == 0
        m = await metrics(http, zp)
        assert m['zproxy_limiter_total{event="rejected_cooldown",pool="default"}'] >= 1
        assert m['zproxy_upstream_requests_total{outcome="429",route="account"}'] == 1 + len(later)


async def test_a_429_without_retry_after_still_holds_calls_back(
    tmp_path: Path, redis_url: str
) -> None:
    """Zuora's concurrency 429 carries no Retry-After (and its quota is not spent): zproxy
    still pauses that pool (one second) instead of firing the next call at once."""
    async with (
        zproxy_stack(tmp_path, redis_url) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        c = await caller(http, fz, zp)
        accts = accounts(fz)
        fz.fake.set_limits({"default": 2})
        set_fault(fz, {"mode": "slow", "latency_ms": 500})
        stats = timed_stats(fz)
        burst = await asyncio.gather(*(c.get(f"/v1/accounts/{a}?burst=1") for a in accts[:8]))
        # (one reaching zproxy after a 429 waits the cooldown out, or is refused with 503)
        assert 429 in {r.status for r in burst}
        assert {r.status for r in burst} <= {200, 429, 503}
        too_many = [r for r in burst if r.status == 429]
        assert all(r.json()["code"] == "REQUEST_EXCEEDED_LIMIT" for r in too_many)
        last_429 = max(at for at, _, status, _ in stats.answers if status == "429")
        arrivals = len(stats.arrivals)

        reply = await c.get(f"/v1/accounts/{accts[0]}?after=1")
        assert reply.status == 200  # it waited the cooldown out (pool_wait 1 s), then went
        later = stats.arrivals[arrivals:]
        assert len(later) == 1
        assert later[0] >= last_429 + 1.0, later[0] - last_429
        m = await metrics(http, zp)
        assert m['zproxy_limiter_total{event="waited_cooldown",pool="default"}'] >= 1
