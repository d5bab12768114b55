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


async def _unknown_then_applied_once(
    tmp_path: Path, cut: RedisCut, tag: str, *, settle_within: float
) -> None:
    """A queued PUT whose enqueue ``cut`` interferes with: the answer is the 504 with a status
    URL (never 503 "not queued"); Redis did run the script, so the write is applied, once."""
    overrides = {"queue": {"partitions": 1}}
    async with (
        aiohttp.ClientSession() as http,
        zproxy_stack(tmp_path, f"redis://127.0.0.1:{cut.port}/0", overrides=overrides) as (
            fz,
            [zp],
        ),
    ):
        token = await fz.token(http)
        path = f"/v1/accounts/{accounts(fz)[0]}?c={tag}"
        await set_mode(http, zp, "force_open")  # the write is queued, not forwarded
        cut.armed = True
        reply = await request(
            http, "PUT", zp.url + path, json={"notes": tag}, headers=bearer(token)
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

        await eventually(settled, timeout=settle_within, every=0.5, what="the write applied")
        assert [e.path for e in fz.fake.ledger.entries].count(path) == 1


async def test_a_write_redis_may_have_queued_is_never_answered_not_queued(
    tmp_path: Path, cut: RedisCut
) -> None:
    """Redis runs the script, then goes away (reply lost, connections refused 1.5 s)."""
    await _unknown_then_applied_once(tmp_path, cut, "cut", settle_within=15)


async def test_a_write_whose_enqueue_stalls_past_its_deadline_is_an_unknown_outcome(
    tmp_path: Path, cut: RedisCut
) -> None:
    """Redis runs the enqueue script, then stalls (every reply lost for 4 s, the retry's too):
    the edge gives up after the durability budget. The write is in Redis, so the answer is
    the 504 with its status URL, not 503 "not queued"."""
    cut.stall_for = 4.0
    await _unknown_then_applied_once(tmp_path, cut, "stall", settle_within=20)
