"""Replay through plain HTTP into the bundled fake Zuora, checked against its ledger.

Writes are queued while Zuora's writes are down, then replayed: first into an outage (503),
then into ``reset_after_apply`` (Zuora applies the write and drops the connection: an
ambiguous failure), then with Zuora up. Every POST must be applied exactly once (same
Idempotency-Key on every attempt) and every account's PUTs in the order accepted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp
import orjson

from tests.support.queue import KEY, T0
from zproxy.clock import FakeClock
from zproxy.policy.replay import ReplayResult
from zproxy.queue.crypto import Cipher
from zproxy.queue.model import QueuedWrite
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.queue.replayer import Replayer
from zproxy.testing.fake_zuora import running_fake_zuora

NEW_ACCOUNT = {
    "currency": "USD",
    "billToContact": {"firstName": "Ada", "lastName": "Lovelace", "country": "US", "state": "CA"},
}


def _write(method: str, path: str, body: dict[str, Any], token: str, order_key: str) -> QueuedWrite:
    return QueuedWrite.create(
        method=method,
        path=path,
        headers=(("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")),
        body=orjson.dumps(body),
        identity="caller-1",
        order_key=order_key,
        route="accounts",
        accepted_at=T0,
    )


async def test_replay_into_fake_zuora_applies_each_write_once_in_order(redis_url: str) -> None:
    client = queue_redis_client(redis_url)
    queue = RedisWriteQueue(client, Cipher({"k1": KEY}))
    await queue.init()
    clock = FakeClock(T0)
    try:
        async with running_fake_zuora(seed=1) as fz, aiohttp.ClientSession() as session:
            token = await fz.token(session)

            async def control(path: str, body: Any = None) -> Any:
                method = "GET" if body is None else "POST"
                async with session.request(method, f"{fz.url}/__fake/{path}", json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    return await resp.json()

            async def send(w: QueuedWrite) -> ReplayResult:
                try:
                    async with session.request(
                        w.method, fz.url + w.path, data=w.body, headers=list(w.headers)
                    ) as resp:
                        body = await resp.read()
                        return ReplayResult(resp.status, body, tuple(resp.headers.items()))
                except aiohttp.ClientConnectionError:
                    return ReplayResult(error="reset")

            replayer = Replayer(queue, send, clock=clock, consumer_id="fz", concurrency=8)

            async def round_() -> int:
                clock.advance(400)  # past any backoff
                return await replayer.drain_once()

            accounts = (await control("seed-info"))["accounts"][:2]
            posts = [
                _write(
                    "POST", "/v1/accounts", {**NEW_ACCOUNT, "name": f"new-{n}"}, token, f"new{n}"
                )
                for n in range(3)
            ]
            for w in posts:
                await queue.enqueue(w)

            await control("fault", {"mode": "writes_down"})
            assert await round_() == 3
            await control("fault", {"mode": "up"})
            await control("fault", {"mode": "reset_after_apply", "scope": "/v1/accounts"})
            assert await round_() == 3
            applied_once = len((await control("ledger"))["entries"])
            assert applied_once == 3  # applied, but the replies were lost
            await control("fault", {"mode": "up"})

            puts = [
                _write("PUT", f"/v1/accounts/{acct}", {"name": f"{acct}-v{v}"}, token, acct)
                for v in range(3)
                for acct in accounts
            ]
            for w in puts:
                await queue.enqueue(w)
            for _ in range(10):
                if await queue.depth() == 0:
                    break
                await round_()
            assert await queue.depth() == 0

            ledger = (await control("ledger"))["entries"]
            finals = {}
            for acct in accounts:
                async with session.get(
                    f"{fz.url}/v1/accounts/{acct}", headers={"Authorization": f"Bearer {token}"}
                ) as resp:
                    finals[acct] = (await resp.json())["basicInfo"]["name"]
    finally:
        await client.aclose()

    post_keys = Counter(e["idempotency_key"] for e in ledger if e["method"] == "POST")
    assert post_keys == Counter({w.idempotency_key: 1 for w in posts})
    put_accounts = Counter(e["path"].rsplit("/", 1)[-1] for e in ledger if e["method"] == "PUT")
    assert put_accounts == Counter({acct: 3 for acct in accounts})
    assert finals == {acct: f"{acct}-v2" for acct in accounts}
    for w in posts:
        record = await _state(redis_url, w.id)
        assert record == "applied"


async def _state(redis_url: str, write_id: str) -> str | None:
    client = queue_redis_client(redis_url)
    try:
        record = await RedisWriteQueue(client, Cipher({"k1": KEY})).get(write_id)
        return None if record is None else record.state
    finally:
        await client.aclose()
