"""Found by the chaos test: Redis went away right after running a write's enqueue script (its
reply lost), the rollback could not reach it either, and zproxy answered 503 "not queued"
for a write that was queued, and then applied by the replay. Now that answer is a 504
ZPROXY_OUTCOME_UNKNOWN with the write's status URL, which says what became of it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.e2e.chaos.redis_cut import RedisCut
from tests.support import eventually, zproxy_stack
from tests.support.fake import accounts
from tests.support.http import bearer, request, set_mode
from zproxy.queue.redis_scripts import ENQUEUE

pytestmark = pytest.mark.slow


@pytest.fixture
async def cut(redis_url: str) -> AsyncIterator[RedisCut]:
    port = urlsplit(redis_url).port
    assert port is not None
    proxy = RedisCut(port, hashlib.sha1(ENQUEUE.encode()).hexdigest().encode())
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_a_write_redis_may_have_queued_is_never_answered_not_queued(
    tmp_path: Path, cut: RedisCut
) -> None:
    overrides = {"queue": {"partitions": 1}}
    async with (
        aiohttp.ClientSession() as http,
        zproxy_stack(tmp_path, f"redis://127.0.0.1:{cut.port}/0", overrides=overrides) as (
            fz,
            [zp],
        ),
    ):
        token = await fz.token(http)
        account = accounts(fz)[0]
        await set_mode(http, zp, "force_open")  # the write is queued, not forwarded
        cut.armed = True
        reply = await request(
            http,
            "PUT",
            f"{zp.url}/v1/accounts/{account}?c=cut",
            json={"notes": "cut"},
            headers=bearer(token),
        )
        assert cut.cuts == 1
        assert reply.status == 504, reply.body
        body = reply.json()
        assert body["reasons"][0]["code"] == "ZPROXY_OUTCOME_UNKNOWN"
        assert body.get("queued") is not False
        status_url = body["statusUrl"]

        async def settled() -> bool:
            await set_mode(http, zp, "auto")
            found = await request(http, "GET", zp.url + status_url, headers=bearer(token))
            return found.status == 200 and found.json()["state"] == "applied"

        # It was queued (Redis ran the script): the status URL says so, and Zuora applied it once.
        try:
            await eventually(settled, timeout=15, every=0.5, what="the write applied")
        except AssertionError:
            found = await request(http, "GET", zp.url + status_url, headers=bearer(token))
            print("DEBUG", found.status, found.body[:500], zp.logs()[-3000:])
            raise
        assert [e.path for e in fz.fake.ledger.entries].count(f"/v1/accounts/{account}?c=cut") == 1


async def test_a_write_whose_enqueue_stalls_past_its_deadline_is_an_unknown_outcome(
    tmp_path: Path, cut: RedisCut
) -> None:
    """Redis runs the enqueue script, then stalls (every reply lost for 4 s, the retry's too):
    the edge gives up after the durability budget. The write is in Redis, so the answer is
    the 504 with its status URL, not 503 "not queued"."""
    cut.stall_for = 4.0
    overrides = {"queue": {"partitions": 1}}
    async with (
        aiohttp.ClientSession() as http,
        zproxy_stack(tmp_path, f"redis://127.0.0.1:{cut.port}/0", overrides=overrides) as (
            fz,
            [zp],
        ),
    ):
        token = await fz.token(http)
        account = accounts(fz)[1]
        await set_mode(http, zp, "force_open")
        cut.armed = True
        reply = await request(
            http,
            "PUT",
            f"{zp.url}/v1/accounts/{account}?c=stall",
            json={"notes": "stall"},
            headers=bearer(token),
        )
        assert cut.cuts == 1
        assert reply.status == 504, reply.body
        assert reply.json()["reasons"][0]["code"] == "ZPROXY_OUTCOME_UNKNOWN"
        status_url = reply.json()["statusUrl"]

        async def settled() -> bool:
            await set_mode(http, zp, "auto")
            found = await request(http, "GET", zp.url + status_url, headers=bearer(token))
            return found.status == 200 and found.json()["state"] == "applied"

        await eventually(settled, timeout=20, every=0.5, what="the write applied")
        path = f"/v1/accounts/{account}?c=stall"
        assert [e.path for e in fz.fake.ledger.entries].count(path) == 1
