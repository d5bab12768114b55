"""``zproxy_journey_requests_total{journey,outcome}`` over real HTTP and Redis: each outcome
(good, stale, queued, failed) counted under the route's journey from the route table."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.support import zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import caller
from tests.support.metrics import metrics

FRESH = 0.5
ROUTES = {"account": {"read": {"fresh": FRESH, "stale_while_revalidate": 0, "stale_if_error": 600}}}


def journey(samples: dict[str, float], name: str, outcome: str) -> float:
    return samples.get(f'zproxy_journey_requests_total{{journey="{name}",outcome="{outcome}"}}', -1)


async def test_each_outcome_is_counted_under_its_journey(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, route_overrides=ROUTES) as (fz, procs),
        aiohttp.ClientSession() as http,
    ):
        zp = procs[0]
        c = await caller(http, fz, zp)
        account = accounts(fz)[0]
        start = await metrics(http, zp)
        for outcome in ("good", "stale", "queued", "failed"):
            assert journey(start, "billing_view", outcome) == 0, outcome  # declared at 0

        assert (await c.get(f"/v1/accounts/{account}")).status == 200  # good (a miss)
        await asyncio.sleep(FRESH + 0.2)  # the entry is past its freshness
        set_fault(fz, {"mode": "down"})
        stale = await c.get(f"/v1/accounts/{account}")
        assert stale.status == 200
        assert "stale-if-error" in stale.cache
        queued = await c.put(f"/v1/accounts/{account}", {"Name": "Later"})
        assert queued.status == 202, queued.body
        failed = await c.post("/v1/accounts", {"name": "New"})
        assert failed.status == 503, failed.body

        after = await metrics(http, zp)
        assert journey(after, "billing_view", "good") == 1
        assert journey(after, "billing_view", "stale") == 1
        assert journey(after, "billing_view", "queued") == 1
        assert journey(after, "purchase", "failed") == 1
        assert journey(after, "billing_view", "failed") == 0
        # The token fetched through zproxy (oauth_token) is a journey of its own: other.
        assert journey(after, "other", "good") >= 1
