"""The replayer against both queues, with a scripted ``send`` and a FakeClock."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable

import pytest

from tests.support.queue import make_write
from zproxy.clock import FakeClock
from zproxy.policy.replay import ReplayResult
from zproxy.queue.model import IDEMPOTENCY_HEADER, QueuedWrite
from zproxy.queue.replayer import NullListener, Replayer
from zproxy.queue.store import WriteQueue

OK = ReplayResult(200, b'{"success": true}')


class Recorder(NullListener):
    def __init__(self, expect: int = 0) -> None:
        self.expect = expect
        self.all_applied = asyncio.Event()
        self.applied: list[str] = []
        self.retried: list[tuple[str, float, str]] = []
        self.dead: list[tuple[str, str, int | None]] = []

    async def on_applied(self, write: QueuedWrite, status: int, body: bytes) -> None:
        self.applied.append(write.id)
        if len(self.applied) == self.expect:
            self.all_applied.set()

    async def on_retried(self, write: QueuedWrite, delay: float, reason: str) -> None:
        self.retried.append((write.id, delay, reason))

    async def on_dead(
        self, write: QueuedWrite, reason: str, status: int | None, body: bytes
    ) -> None:
        self.dead.append((write.id, reason, status))


def scripted(
    *answers: ReplayResult,
) -> tuple[Callable[[QueuedWrite], Awaitable[ReplayResult]], list[QueuedWrite]]:
    """A send that answers in turn (the last answer repeats) and records what it got."""
    sent: list[QueuedWrite] = []

    async def send(write: QueuedWrite) -> ReplayResult:
        sent.append(write)
        return answers[min(len(sent) - 1, len(answers) - 1)]

    return send, sent


def replayer(
    queue: WriteQueue,
    send: Callable[[QueuedWrite], Awaitable[ReplayResult]],
    clock: FakeClock,
    **kw: object,
) -> tuple[Replayer, Recorder]:
    listener = Recorder()
    r = Replayer(
        queue,
        send,
        clock=clock,
        consumer_id="r1",
        listener=listener,
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )
    return r, listener


async def drain(r: Replayer) -> int:
    total = 0
    while (n := await r.drain_once()) > 0:
        total += n
    return total


async def test_500_writes_over_50_keys_each_sent_once_in_order(
    queue: WriteQueue, clock: FakeClock
) -> None:
    writes = [make_write(n, order_key=f"A{n % 50:03d}", method="POST") for n in range(500)]
    for w in writes:
        await queue.enqueue(w)
    send, sent = scripted(OK)
    r, listener = replayer(queue, send, clock, concurrency=8)
    assert await drain(r) == 500
    assert sorted(w.id for w in sent) == sorted(w.id for w in writes)
    per_key: dict[str, list[str]] = defaultdict(list)
    for w in sent:
        per_key[w.order_key].append(w.id)
    for key, ids in per_key.items():
        assert ids == [w.id for w in writes if w.order_key == key]
    assert len(listener.applied) == 500
    assert await queue.depth() == 0


async def test_every_post_attempt_carries_the_same_idempotency_key(
    queue: WriteQueue, clock: FakeClock
) -> None:
    write = make_write(1, method="POST", key="client-key-1")
    await queue.enqueue(write)
    send, sent = scripted(ReplayResult(error="timeout"), ReplayResult(503), OK)
    r, listener = replayer(queue, send, clock)
    for _ in range(3):
        assert await r.drain_once() == 1
        clock.advance(400)  # past any backoff (cap 300 s)
    assert [w.header(IDEMPOTENCY_HEADER) for w in sent] == ["client-key-1"] * 3
    assert listener.applied == [write.id]
    assert [reason for _, _, reason in listener.retried] == ["timeout", "upstream_503"]
    record = await queue.get(write.id)
    assert record is not None
    assert record.state == "applied"
    assert record.attempts == 3


async def test_non_retryable_400_dead_letters_and_the_key_moves_on(
    queue: WriteQueue, clock: FakeClock
) -> None:
    a1, a2 = make_write(1), make_write(2)
    await queue.enqueue(a1)
    await queue.enqueue(a2)
    bad = ReplayResult(400, b'{"success": false, "reasons": [{"code": 53100020}]}')
    send, _sent = scripted(bad, OK)
    r, listener = replayer(queue, send, clock)
    assert await drain(r) == 2
    assert listener.dead == [(a1.id, "upstream_400", 400)]
    assert listener.applied == [a2.id]
    record = await queue.get(a1.id)
    assert record is not None
    assert record.state == "dead"
    assert record.upstream_status == 400


async def test_write_past_max_age_is_dead_lettered_without_sending(
    queue: WriteQueue, clock: FakeClock
) -> None:
    write = make_write(1)
    await queue.enqueue(write)
    clock.advance(72_001)
    send, sent = scripted(OK)
    r, listener = replayer(queue, send, clock)
    assert await r.drain_once() == 1
    assert sent == []
    assert listener.dead == [(write.id, "expired_idempotency_window", None)]


async def test_retry_after_holds_the_key_and_pauses_the_replayer(
    queue: WriteQueue, clock: FakeClock
) -> None:
    a, b = make_write(1, order_key="A"), make_write(1, order_key="B")
    await queue.enqueue(a)
    send, sent = scripted(ReplayResult(429, b"{}", (("Retry-After", "30"),)), OK)
    r, listener = replayer(queue, send, clock)
    assert await r.drain_once() == 1
    ((_, delay, reason),) = listener.retried
    assert reason == "upstream_429"
    assert 30 <= delay <= 31
    await queue.enqueue(b)
    clock.advance(29)
    assert await r.drain_once() == 0  # paused: the tenant is rate limited
    assert len(sent) == 1
    clock.advance(delay - 29)
    assert await drain(r) == 2
    assert sorted(listener.applied) == sorted([a.id, b.id])


async def test_nothing_is_claimed_while_the_gate_is_shut(
    queue: WriteQueue, clock: FakeClock
) -> None:
    await queue.enqueue(make_write(1))
    gate = {"open": False}
    send, sent = scripted(OK)
    r, _ = replayer(queue, send, clock, can_send=lambda: gate["open"])
    assert await r.drain_once() == 0
    record = (await queue.list("queued"))[0]
    assert record.attempts == 0
    gate["open"] = True
    assert await r.drain_once() == 1
    assert len(sent) == 1


async def test_send_raising_is_retried_not_lost(queue: WriteQueue, clock: FakeClock) -> None:
    write = make_write(1)
    await queue.enqueue(write)
    calls = 0

    async def send(w: QueuedWrite) -> ReplayResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug in send")
        return OK

    r, listener = replayer(queue, send, clock)
    assert await r.drain_once() == 1
    assert listener.retried
    assert listener.retried[0][2] == "reset"
    clock.advance(10)
    assert await r.drain_once() == 1
    assert listener.applied == [write.id]


async def test_run_drains_until_stopped(queue: WriteQueue, clock: FakeClock) -> None:
    writes = [make_write(n, order_key=f"K{n % 3}") for n in range(9)]
    for w in writes:
        await queue.enqueue(w)
    send, _sent = scripted(OK)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    r, listener = replayer(queue, send, clock, sleep=sleep, poll_interval=0.5)
    task = asyncio.create_task(r.run())

    listener.expect = 9
    await asyncio.wait_for(listener.all_applied.wait(), 10)
    r.stop()
    await asyncio.wait_for(task, 5)
    assert sorted(listener.applied) == sorted(w.id for w in writes)


@pytest.mark.parametrize("status", [500, 502, 503, 409])
async def test_transient_statuses_are_retried(
    queue: WriteQueue, clock: FakeClock, status: int
) -> None:
    await queue.enqueue(make_write(1))
    send, _ = scripted(ReplayResult(status), OK)
    r, listener = replayer(queue, send, clock)
    await r.drain_once()
    assert listener.retried
    assert not listener.dead
    clock.advance(400)
    await r.drain_once()
    assert len(listener.applied) == 1
