"""``POST /admin/breaker``: ``force_open`` (planned maintenance) takes effect at once: reads are
served stale or refused, queueable writes are queued, nothing reaches Zuora; ``auto`` probes
and drains the queue; ``force_closed`` keeps calling Zuora whatever it answers."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.breaker.helpers import status_count, total
from tests.support import eventually, zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import ADMIN, breakers, caller, request, set_mode

FAIL_MAX = 3
OVERRIDES = {
    "breakers": {"defaults": {"fail_max": FAIL_MAX, "reset_timeout": 30, "min_volume": 1000}},
}


async def test_forced_modes(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=OVERRIDES) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        c = await caller(http, fz, zp)
        first, second, third, *_ = accounts(fz)
        cached = f"/v1/accounts/{first}"
        primed = await c.get(cached)
        assert primed.status == 200

        # the mutating endpoint needs the token
        denied = await request(
            http, "POST", zp.admin_url + "/admin/breaker", json={"mode": "force_open"}
        )
        assert denied.status in (401, 403)

        groups = await set_mode(http, zp, "force_open")
        assert {g["mode"] for g in groups.values()} == {"force_open"}
        assert {g["state"] for g in groups.values()} == {"open"}
        seen = total(fz)

        # reads: a revalidation falls back to the stored answer, a fresh hit stays a hit,
        # an uncached read is refused with Retry-After
        stale = await c.get(cached, {"Cache-Control": "no-cache"})
        assert stale.status == 200
        assert stale.body == primed.body
        assert stale.cache == "zproxy; hit; detail=stale-if-error"
        assert (await c.get(cached)).cache.startswith("zproxy; hit; ttl=")
        refused = await c.get(f"/v1/accounts/{second}")
        assert refused.status == 503
        assert refused.code == "ZPROXY_UPSTREAM_UNAVAILABLE"
        assert int(refused.headers["Retry-After"]) >= 1
        # writes: a queueable one is queued, a non-queueable one refused
        queued = await c.send("PUT", f"/v1/accounts/{third}", {"notes": "during maintenance"})
        assert queued.status == 202, queued.body
        assert queued.headers["Location"] == queued.json()["statusUrl"]
        write_id = queued.json()["writeId"]
        create = await c.send("POST", "/v1/accounts", {"name": "n", "currency": "USD"})
        assert create.status == 503
        assert create.json()["queued"] is False
        assert total(fz) == seen  # nothing reached Zuora

        # auto: leaving force_open goes half-open, so the next calls probe; the queue drains
        groups = await set_mode(http, zp, "auto")
        assert {g["mode"] for g in groups.values()} == {"auto"}
        assert groups["reads"]["state"] == "half_open"
        assert (await c.get(f"/v1/accounts/{second}")).status == 200
        assert (await breakers(http, zp))["reads"]["state"] == "closed"

        async def applied() -> bool:
            status = await c.get(f"/_zproxy/writes/{write_id}")
            return bool(status.status == 200 and status.json()["state"] == "applied")

        assert await eventually(applied, timeout=10, every=0.1)
        puts = [e for e in fz.fake.ledger.entries if e.path == f"/v1/accounts/{third}"]
        assert len(puts) == 1
        assert (await breakers(http, zp))["writes"]["state"] == "closed"

        # force_closed: Zuora is down, yet every read still goes to it; the breaker stays shut
        set_fault(fz, {"mode": "down"})
        groups = await set_mode(http, zp, "force_closed", group="reads")
        assert groups["reads"]["mode"] == "force_closed"
        assert groups["writes"]["mode"] == "auto"
        failures = status_count(fz, "503")
        for i in range(3 * FAIL_MAX):
            reply = await c.get(f"/v1/accounts/{second}?closed={i}")
            assert reply.status == 503
        assert status_count(fz, "503") - failures >= 3 * FAIL_MAX
        view = (await breakers(http, zp))["reads"]
        assert (view["mode"], view["state"]) == ("force_closed", "closed")

        # back to auto: the breaker counts again and opens after FAIL_MAX failures
        await set_mode(http, zp, "auto", group="reads")
        failures = status_count(fz, "503")
        for i in range(10):
            await c.get(f"/v1/accounts/{second}?auto={i}")
            if (await breakers(http, zp))["reads"]["state"] == "open":
                break
        assert status_count(fz, "503") - failures == FAIL_MAX
        reply = await request(http, "GET", zp.admin_url + "/admin/breaker", headers=ADMIN)
        assert reply.json()["groups"]["reads"]["mode"] == "auto"
        assert reply.json()["groups"]["reads"]["state"] == "open"
