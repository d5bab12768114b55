"""Pure pieces added with the end-to-end work: Zuora's 503 queues a write, writes behind queued
ones join the line, and a replay the breaker refused is released without backoff."""

from __future__ import annotations

import pytest

from tests.support.queue import T0, make_write
from zproxy.clock import FakeClock
from zproxy.policy import writes as wp
from zproxy.policy.replay import ReplayResult
from zproxy.policy.routes import WritePolicy
from zproxy.queue.replayer import Replayer
from zproxy.queue.store import MemoryWriteQueue

QUEUE = WritePolicy(on_outage="queue", order_key="account:{account}")
PREFER = WritePolicy(on_outage="queue", queue_requires_prefer=True)
REJECT = WritePolicy(on_outage="reject")


@pytest.mark.parametrize(
    ("policy", "method", "status", "prefer", "queued"),
    [
        (QUEUE, "PUT", 503, False, True),  # Zuora did not process it: safe for any method
        (QUEUE, "PUT", 429, False, True),  # over Zuora's limits: not processed either
        (REJECT, "POST", 429, False, False),  # payments and the like get Zuora's 429
        (QUEUE, "PUT", 502, False, False),  # ambiguous: a PUT gets Zuora's answer
        (QUEUE, "POST", 504, False, True),  # ambiguous, but the replay is deduped by key
        (PREFER, "POST", 503, False, False),
        (PREFER, "POST", 503, True, True),
        (REJECT, "POST", 503, True, False),
        (QUEUE, "PUT", 500, False, False),
        (QUEUE, "PUT", 200, False, False),
    ],
)
def test_upstream_status_queues_only_what_may_wait(
    policy: WritePolicy, method: str, status: int, prefer: bool, queued: bool
) -> None:
    decision = wp.on_upstream_status(policy, method, status, prefer_async=prefer)
    assert isinstance(decision, wp.Queue) is queued
    card = wp.on_upstream_status(policy, method, status, prefer_async=prefer, card_data=True)
    assert card is None


def test_writes_behind_queued_ones_join_the_line_when_they_may() -> None:
    def decide(policy: WritePolicy, *, open_: bool, behind: bool, prefer: bool = False) -> object:
        return wp.decide_write(
            policy, breaker_open=open_, prefer_async=prefer, card_data=False, behind_queued=behind
        )

    assert isinstance(decide(QUEUE, open_=False, behind=False), wp.Forward)
    assert isinstance(decide(QUEUE, open_=False, behind=True), wp.Queue)
    # Not queueable: forwarded all the same while Zuora is up, refused while it is not.
    assert isinstance(decide(PREFER, open_=False, behind=True), wp.Forward)
    assert isinstance(decide(PREFER, open_=False, behind=True, prefer=True), wp.Queue)
    assert isinstance(decide(REJECT, open_=True, behind=True), wp.Reject)


async def test_a_replay_the_breaker_refused_is_released_without_backoff() -> None:
    queue = MemoryWriteQueue()
    await queue.enqueue(make_write(1))
    answers = [ReplayResult(error="breaker_open"), ReplayResult(200, b'{"success":true}')]
    sent: list[str] = []

    async def send(write: object) -> ReplayResult:
        sent.append(str(write))
        return answers.pop(0)

    clock = FakeClock(T0)
    replayer = Replayer(queue, send, clock=clock, consumer_id="c1")
    assert await replayer.drain_once() == 1
    record = (await queue.list("queued"))[0]
    assert record.next_attempt_at is None
    assert record.last_error is None
    assert await replayer.drain_once() == 1  # same instant: no backoff hold
    assert (await queue.list("applied"))[0].id == record.id
    assert len(sent) == 2
