"""The replayer over real Redis and real HTTP: two consumers, a crashed one, a flaky upstream."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.support.queue import KEY, T0, make_write
from zproxy.clock import FakeClock, SystemClock
from zproxy.policy.replay import ReplayResult
from zproxy.queue.crypto import Cipher
from zproxy.queue.model import IDEMPOTENCY_HEADER, QueuedWrite
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.queue.replayer import NullListener, Replayer


@pytest.fixture
async def two_queues(redis_url: str) -> AsyncIterator[tuple[RedisWriteQueue, RedisWriteQueue]]:
    """Two stores on one Redis with their own connections, as two processes would have."""
    clients = [queue_redis_client(redis_url) for _ in range(2)]
    queues = [RedisWriteQueue(c, Cipher({"k1": KEY})) for c in clients]
    for q in queues:
        await q.init()
    yield queues[0], queues[1]
    for c in clients:
        await c.aclose()


async def test_two_replayers_never_send_one_order_key_concurrently(
    two_queues: tuple[RedisWriteQueue, RedisWriteQueue],
) -> None:
    q1, q2 = two_queues
    now = SystemClock().time()
    writes = [make_write(n, order_key=f"K{n % 20:02d}", accepted_at=now) for n in range(200)]
    for w in writes:
        await q1.enqueue(w)
    in_flight: set[str] = set()
    overlaps: list[str] = []
    sent: list[tuple[str, QueuedWrite]] = []
    r2_started = asyncio.Event()
    all_sent = asyncio.Event()

    def make_send(name: str):  # type: ignore[no-untyped-def]
        async def send(write: QueuedWrite) -> ReplayResult:
            if write.order_key in in_flight:
                overlaps.append(write.order_key)
            in_flight.add(write.order_key)
            sent.append((name, write))
            if name == "r2":
                r2_started.set()
            else:
                # r1 holds its keys until r2 is demonstrably working in parallel.
                await asyncio.wait_for(r2_started.wait(), 10)
            await asyncio.sleep(0.001)
            in_flight.discard(write.order_key)
            if len(sent) == len(writes):
                all_sent.set()
            return ReplayResult(200, b'{"success": true}')

        return send

    replayers = [
        Replayer(
            q,
            make_send(name),
            clock=SystemClock(),
            consumer_id=name,
            concurrency=4,
            poll_interval=0.01,
        )
        for q, name in ((q1, "r1"), (q2, "r2"))
    ]
    tasks = [asyncio.create_task(r.run()) for r in replayers]

    await asyncio.wait_for(all_sent.wait(), 30)
    for _ in range(100):  # the last outcomes are being recorded
        if await q1.depth() == 0:
            break
        await asyncio.sleep(0.01)
    for r in replayers:
        r.stop()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert await q1.depth() == 0
    assert overlaps == []
    assert {name for name, _ in sent} == {"r1", "r2"}
    assert sorted(w.id for _, w in sent) == sorted(w.id for w in writes)
    per_key: dict[str, list[str]] = defaultdict(list)
    for _, w in sent:
        per_key[w.order_key].append(w.id)
    for key, ids in per_key.items():
        assert ids == [w.id for w in writes if w.order_key == key]


async def test_a_crashed_consumers_write_is_replayed_by_another_with_the_same_key(
    two_queues: tuple[RedisWriteQueue, RedisWriteQueue],
) -> None:
    q1, q2 = two_queues
    clock = FakeClock(T0)
    write = make_write(1, method="POST", key="k-crash")
    await q1.enqueue(write)
    (claim,) = await q1.claim("crashed", T0, 30, 4)  # ... and then the process died
    assert claim.write_id == write.id
    sent: list[QueuedWrite] = []

    async def send(w: QueuedWrite) -> ReplayResult:
        sent.append(w)
        return ReplayResult(200, b"{}")

    survivor = Replayer(q2, send, clock=clock, consumer_id="survivor")
    assert await survivor.drain_once() == 0  # the lease still holds
    clock.advance(31)
    report = await q2.reclaim(clock.time(), min_idle_ms=0)
    assert report.requeued == (write.id,)
    assert await survivor.drain_once() == 1
    assert [w.header(IDEMPOTENCY_HEADER) for w in sent] == ["k-crash"]
    record = await q2.get(write.id)
    assert record is not None
    assert record.state == "applied"
    assert record.attempts == 2


class Upstream:
    """A tiny Zuora stand-in: fails the first ``fail`` writes with 503, dedupes on
    Idempotency-Key like Zuora, and keeps a ledger of applied writes."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.ledger: list[tuple[str, str | None]] = []
        self.seen: dict[str, bytes] = {}

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail > 0:
            self.fail -= 1
            return web.json_response({"success": False}, status=503)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and key in self.seen:
            return web.Response(body=self.seen[key], content_type="application/json")
        self.ledger.append((request.path_qs, key))
        body = b'{"success": true, "id": %d}' % len(self.ledger)
        if key is not None:
            self.seen[key] = body
        return web.Response(body=body, content_type="application/json")


async def test_replay_through_http_applies_each_write_once_in_order(redis_url: str) -> None:
    upstream = Upstream(fail=3)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = queue_redis_client(redis_url)
    queue = RedisWriteQueue(client, Cipher({"k1": KEY}))
    await queue.init()
    clock = FakeClock(T0)
    writes = [make_write(n, method="POST", order_key=f"A{n % 3}") for n in range(12)]
    for w in writes:
        await queue.enqueue(w)
    try:
        async with aiohttp.ClientSession() as session:

            async def send(w: QueuedWrite) -> ReplayResult:
                url = f"http://127.0.0.1:{port}{w.path}"
                async with session.request(
                    w.method, url, data=w.body, headers=list(w.headers)
                ) as resp:
                    return ReplayResult(resp.status, await resp.read(), tuple(resp.headers.items()))

            replayer = Replayer(
                queue, send, clock=clock, consumer_id="e2e", listener=NullListener()
            )
            for _ in range(50):
                if await queue.depth() == 0:
                    break
                await replayer.drain_once()
                clock.advance(301)
    finally:
        await client.aclose()
        await runner.cleanup()
    keys = [key for _, key in upstream.ledger]
    assert None not in keys
    assert sorted(str(k) for k in keys) == sorted(w.idempotency_key for w in writes)
    for order_key in ("A0", "A1", "A2"):
        applied = [
            path for path, _ in upstream.ledger if path.startswith(f"/v1/accounts/{order_key}?")
        ]
        assert applied == [w.path for w in writes if w.order_key == order_key]
