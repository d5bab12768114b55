"""``zproxy_upstream_success_false_total{route}``: every configured route is declared at 0 from
start-up, and a write Zuora answers 2xx with ``success: false`` counts once for its route.
Real zproxy, fake Zuora, Redis; read from ``/metrics`` on the admin port."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.support import fake, zproxy_stack
from tests.support.http import bearer, request
from tests.support.metrics import metrics

NAME = "zproxy_upstream_success_false_total"


def series(route: str) -> str:
    return f'{NAME}{{route="{route}"}}'


async def test_a_success_false_write_counts_once_for_its_route(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        before = await metrics(http, proc)
        assert before[series("account_update")] == 0
        assert before[series("payments_write")] == 0

        known = fake.accounts(fz)[0]
        ok = await request(
            http,
            "PUT",
            f"{proc.url}/v1/accounts/{known}",
            json={"notes": "fine"},
            headers=bearer(token),
        )
        assert ok.status == 200
        assert ok.json()["success"] is True
        unknown = await request(
            http,
            "PUT",
            proc.url + "/v1/accounts/A99999999",
            json={"notes": "nobody"},
            headers=bearer(token),
        )
        assert unknown.status == 200, unknown.body  # Zuora's v1 business error: 200 + false
        assert unknown.json()["success"] is False

        after = await metrics(http, proc)
        assert after[series("account_update")] == 1
        assert after[series("payments_write")] == 0
        assert after[series("orders_create")] == 0
