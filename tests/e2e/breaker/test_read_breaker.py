"""The read breaker over real HTTP: it opens after ``fail_max`` 503s, then nothing reaches Zuora
until the half-open probe; a failed probe re-opens it, a successful one closes it; the gauge
and the transition counter follow."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.breaker.helpers import status_count, total
from tests.support import eventually, zproxy_stack
from tests.support.fake import accounts, set_fault
from tests.support.http import breakers, caller
from tests.support.metrics import metrics

FAIL_MAX = 3
RESET = 2  # seconds open before a probe; the polls below wait for it, bounded
OVERRIDES = {
    "breakers": {
        "defaults": {"fail_max": FAIL_MAX, "reset_timeout": RESET, "min_volume": 1000},
    },
}


def transitions(sample: dict[str, float], to: str) -> float:
    return sample.get(f'zproxy_breaker_transitions_total{{to="{to}"}}', 0.0)


async def test_read_breaker_opens_probes_and_closes(tmp_path: Path, redis_url: str) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=OVERRIDES) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        c = await caller(http, fz, zp)
        base = f"/v1/accounts/{accounts(fz)[0]}"
        assert (await c.get(base + "?warm=1")).status == 200
        m = await metrics(http, zp)
        assert m["zproxy_breaker_state"] == 0

        # Zuora goes down: sequential reads (distinct keys, nothing cached) until it opens.
        set_fault(fz, {"mode": "down"})
        for i in range(20):
            reply = await c.get(f"{base}?n={i}")
            assert reply.status == 503, reply.body
            if (await breakers(http, zp))["reads"]["state"] == "open":
                break
        # exactly the threshold of 503s reached Zuora (retries included: each attempt counts)
        assert status_count(fz, "503") == FAIL_MAX
        m = await metrics(http, zp)
        assert m["zproxy_breaker_state"] == 2
        assert m['zproxy_breaker_group_state{group="reads"}'] == 2
        assert transitions(m, "open") == 1

        # open: answered at once with 503 + Retry-After, and Zuora sees nothing
        seen = total(fz)
        for i in range(5):
            reply = await c.get(f"{base}?open={i}")
            assert reply.status == 503
            assert reply.code == "ZPROXY_UPSTREAM_UNAVAILABLE"
            assert 1 <= int(reply.headers["Retry-After"]) <= RESET
        assert total(fz) == seen

        # after reset_timeout one probe goes; Zuora is still down, so it re-opens
        async def probed() -> bool:
            await c.get(f"{base}?probe=1")
            return total(fz) > seen

        assert await eventually(probed, timeout=RESET + 5, every=0.05)
        assert total(fz) == seen + 1  # one probe, not a burst
        view = (await breakers(http, zp))["reads"]
        assert view["state"] == "open"
        m = await metrics(http, zp)
        assert transitions(m, "half_open") == 1
        assert transitions(m, "open") == 2
        seen = total(fz)
        assert (await c.get(f"{base}?again=1")).status == 503
        assert total(fz) == seen

        # Zuora recovers: the next probe succeeds and the breaker closes
        set_fault(fz, {"mode": "up"})
        replies = []

        async def recovered() -> bool:
            replies.append(await c.get(f"{base}?recovered=1"))
            return replies[-1].status == 200

        assert await eventually(recovered, timeout=RESET + 5, every=0.05)
        assert all(r.status == 503 for r in replies[:-1])
        assert total(fz) == seen + 1  # the successful probe was the only call
        view = (await breakers(http, zp))["reads"]
        assert view["state"] == "closed"
        assert view["consecutive_failures"] == 0
        m = await metrics(http, zp)
        assert m["zproxy_breaker_state"] == 0
        assert transitions(m, "half_open") == 2
        assert transitions(m, "closed") == 1
        assert transitions(m, "open") == 2

        # closed again: reads reach Zuora as usual
        before = total(fz)
        assert (await c.get(f"{base}?after=1")).status == 200
        assert total(fz) == before + 1
