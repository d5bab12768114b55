"""Writes and failures: a ``writes_down`` outage opens the write breaker while reads keep
flowing, and a write is sent to Zuora exactly once whatever happens, while safe reads are
retried up to the attempt limit and within the retry budget."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.breaker.helpers import total
from tests.support import zproxy_stack
from tests.support.fake import accounts, path_count, set_fault
from tests.support.http import breakers, caller
from tests.support.metrics import metrics


async def test_writes_down_opens_the_write_breaker_and_reads_keep_flowing(
    tmp_path: Path, redis_url: str
) -> None:
    overrides = {
        "breakers": {"defaults": {"fail_max": 3, "reset_timeout": 30, "min_volume": 1000}},
    }
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=overrides) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        c = await caller(http, fz, zp)
        [first, second, *_] = accounts(fz)
        set_fault(fz, {"mode": "writes_down"})
        # trip it with a write that is never queued (account create: on_outage reject)
        for i in range(3):
            reply = await c.send("POST", "/v1/accounts", {"name": f"n{i}", "currency": "USD"})
            assert reply.status == 503, reply.body  # Zuora's own 503, passed through
            assert reply.code != "ZPROXY_UPSTREAM_UNAVAILABLE"
        assert path_count(fz, "/v1/accounts") == 3
        groups = await breakers(http, zp)
        assert groups["writes"]["state"] == "open"
        assert groups["reads"]["state"] == "closed"

        # open: a non-queueable write is refused without a call, a queueable one is queued
        reply = await c.send("POST", "/v1/accounts", {"name": "x", "currency": "USD"})
        assert reply.status == 503
        assert reply.code == "ZPROXY_UPSTREAM_UNAVAILABLE"
        assert reply.json()["queued"] is False
        assert 1 <= int(reply.headers["Retry-After"]) <= 30
        put = f"/v1/accounts/{first}"
        reply = await c.send("PUT", put, {"notes": "queued"})
        assert reply.status == 202, reply.body
        assert reply.json()["queued"] is True
        assert path_count(fz, "/v1/accounts") == 3
        assert path_count(fz, put) == 0

        # reads still reach Zuora and succeed; the read breaker stays closed
        for i in range(5):
            path = f"/v1/accounts/{second}?n={i}"
            reply = await c.get(path)
            assert reply.status == 200, reply.body
            assert reply.json()["basicInfo"]["accountNumber"] == second
        assert path_count(fz, f"/v1/accounts/{second}") == 5
        groups = await breakers(http, zp)
        assert groups["reads"]["state"] == "closed"
        assert groups["reads"]["consecutive_failures"] == 0
        assert groups["writes"]["state"] == "open"
        m = await metrics(http, zp)
        assert m['zproxy_breaker_group_state{group="writes"}'] == 2
        assert m['zproxy_breaker_group_state{group="reads"}'] == 0
        assert m['zproxy_breaker_transitions_total{to="open"}'] == 1


async def test_writes_are_sent_once_and_reads_are_retried(tmp_path: Path, redis_url: str) -> None:
    overrides = {
        # the breakers stay out of the way: this is about retries
        "breakers": {"defaults": {"fail_max": 1000, "min_volume": 1000}},
        "retry": {
            "max_attempts": 3,
            "deadline": 5,
            "base_delay": 0.01,
            "max_delay": 0.02,
            "budget_window": 60,
        },
    }
    # account updates are queued on outage by default; here they are refused, so the fake's
    # counter shows the live attempts only (no replays)
    routes = {"account_update": {"write": {"on_outage": "reject"}}}
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=overrides, route_overrides=routes) as (
            fz,
            [zp],
        ),
        aiohttp.ClientSession() as http,
    ):
        c = await caller(http, fz, zp)
        accts = accounts(fz)
        for mode in ("down", "reset"):
            set_fault(fz, {"mode": mode})
            put = f"/v1/accounts/{accts[0]}"
            before_put = path_count(fz, put)
            reply = await c.send("PUT", put, {"notes": mode})
            assert reply.status in (503, 502, 504), reply.body
            assert path_count(fz, put) == before_put + 1  # one attempt, never retried

            before_post = path_count(fz, "/v1/orders")
            order = {"existingAccountNumber": accts[0], "orderDate": "2024-01-01"}
            reply = await c.send("POST", "/v1/orders", order)
            assert reply.status in (503, 502, 504), reply.body
            assert path_count(fz, "/v1/orders") == before_post + 1

        # Safe reads are retried: budget min 3 retries per window (whatever the traffic).
        # 1st GET: 3 attempts (2 retries); 2nd: 2 attempts (the budget's last retry);
        # 3rd: 1 attempt (budget exhausted).
        expectations = [(accts[1], 3), (accts[2], 2), (accts[3], 1)]
        for n, (account, expected) in enumerate(expectations):
            path = f"/v1/accounts/{account}"
            set_fault(fz, {"mode": "down" if n % 2 == 0 else "reset"})
            reply = await c.get(path)
            assert reply.status in (502, 503), reply.body
            assert path_count(fz, path) == expected, path
        m = await metrics(http, zp)
        assert m['zproxy_retries_total{result="retried"}'] == 3
        assert m['zproxy_retries_total{result="budget_exhausted"}'] >= 1
        # every attempt is one upstream metric sample
        attempts = sum(
            v
            for k, v in m.items()
            if k.startswith("zproxy_upstream_requests_total{") and 'route="account"' in k
        )
        assert attempts == 6
        assert total(fz) >= 10
