"""A client's own failures are not Zuora's: request bodies that stall on a streamed
(pass-through) write get 408 and never count toward the write breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.support import zproxy_stack
from tests.support.fake import accounts
from tests.support.http import breakers, caller, request
from tests.support.metrics import metrics

FAIL_MAX = 2
OVERRIDES = {
    "breakers": {"defaults": {"fail_max": FAIL_MAX, "reset_timeout": 30, "min_volume": 1000}},
    "server": {"body_read_timeout": 0.3},
}


async def _stalling_body() -> AsyncIterator[bytes]:
    yield b'{"Name": '
    await asyncio.sleep(1.0)  # longer than body_read_timeout: zproxy gives up on the client
    yield b'"late"}'


async def test_stalled_request_bodies_do_not_open_the_write_breaker(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        zproxy_stack(tmp_path, redis_url, overrides=OVERRIDES) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        c = await caller(http, fz, zp)
        # PUT on the CRUD object is not in the route table: streamed through to Zuora
        account_id = fz.fake.tenant(1).accounts[accounts(fz)[0]]["id"]
        path = f"/v1/object/account/{account_id}"
        headers = c.auth({"Content-Type": "application/json"})
        for _ in range(FAIL_MAX + 1):
            reply = await request(
                http, "PUT", zp.url + path, data=_stalling_body(), headers=headers
            )
            assert reply.status == 408, reply.body
            assert reply.code == "ZPROXY_REQUEST_TIMEOUT"
        view = (await breakers(http, zp))["writes"]
        assert view["state"] == "closed"
        assert view["consecutive_failures"] == 0
        m = await metrics(http, zp)
        samples = [k for k in m if k.startswith("zproxy_upstream_requests_total{")]
        assert m[
            'zproxy_upstream_requests_total{outcome="client_body_error",route="unmatched"}'
        ] == (FAIL_MAX + 1), samples

        # and a well-formed write still goes through
        reply = await request(http, "PUT", zp.url + path, json={"Name": "ok"}, headers=headers)
        assert reply.status == 200, reply.body
