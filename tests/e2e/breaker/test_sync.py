"""Two zproxy processes on one Redis: a breaker that opens in one is open in the other within a
second (it then answers without calling Zuora), and forced modes travel both ways."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.breaker.helpers import status_count, total
from tests.support import eventually, zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import breakers, caller, set_mode

OVERRIDES = {
    "breakers": {"defaults": {"fail_max": 3, "reset_timeout": 30, "min_volume": 1000}},
}
#: How long another process may take to adopt a change (pub/sub over a local Redis).
PROPAGATION = 1.0


async def test_open_in_one_process_is_seen_by_the_other(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=OVERRIDES, processes=2) as (fz, [a, b]),
        aiohttp.ClientSession() as http,
    ):
        via_a = await caller(http, fz, a)
        via_b = via_a.via(b)
        base = f"/v1/accounts/{accounts(fz)[0]}"
        assert (await via_b.get(base + "?warm=1")).status == 200
        assert (await breakers(http, b))["reads"]["state"] == "closed"

        set_fault(fz, {"mode": "down"})
        for i in range(10):
            await via_a.get(f"{base}?n={i}")
            if (await breakers(http, a))["reads"]["state"] == "open":
                break
        assert status_count(fz, "503") == 3
        opened_at = (await breakers(http, a))["reads"]["opened_at"]

        async def b_open() -> bool:
            return bool((await breakers(http, b))["reads"]["state"] == "open")

        assert await eventually(b_open, timeout=PROPAGATION, every=0.02)
        view = (await breakers(http, b))["reads"]
        assert view["opened_at"] == opened_at  # A's open time, not B's
        assert view["consecutive_failures"] == 0  # B saw no failure itself
        # B answers from the shared state: no call reaches Zuora
        seen = total(fz)
        reply = await via_b.get(f"{base}?from_b=1")
        assert reply.status == 503
        assert reply.code == "ZPROXY_UPSTREAM_UNAVAILABLE"
        assert int(reply.headers["Retry-After"]) >= 1
        assert total(fz) == seen

        # forced modes travel too, both ways
        await set_mode(http, b, "force_closed")

        async def a_forced_closed() -> bool:
            groups = await breakers(http, a)
            return all(g["mode"] == "force_closed" for g in groups.values())

        assert await eventually(a_forced_closed, timeout=PROPAGATION)
        assert (await breakers(http, a))["reads"]["state"] == "closed"

        await set_mode(http, a, "auto")

        async def b_auto() -> bool:
            groups = await breakers(http, b)
            return all(g["mode"] == "auto" for g in groups.values())

        assert await eventually(b_auto, timeout=PROPAGATION)
        assert (await breakers(http, b))["reads"]["state"] == "closed"
