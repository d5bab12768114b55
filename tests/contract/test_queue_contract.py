"""The WriteQueue contract, run against the memory and the Redis implementation."""

from __future__ import annotations

import pytest

from tests.support.queue import T0, make_write
from zproxy.queue.store import IdempotencyMismatch, WriteQueue

LEASE = 30.0


async def test_enqueue_then_get_round_trips_the_write(queue: WriteQueue) -> None:
    write = make_write(1, method="POST", body=b'{"name": "x"}')
    result = await queue.enqueue(write)
    assert result.write_id == write.id
    assert result.created
    record = await queue.get(write.id)
    assert record is not None
    assert record.write == write
    assert record.state == "queued"
    assert record.attempts == 0
    assert await queue.depth() == 1
    assert await queue.oldest_accepted_at() == T0


async def test_same_key_same_body_is_deduplicated(queue: WriteQueue) -> None:
    first = make_write(1, key="k")
    again = make_write(1, key="k")  # a client retry: new id, same key and body
    assert again.id != first.id
    await queue.enqueue(first)
    result = await queue.enqueue(again)
    assert result.write_id == first.id
    assert not result.created
    assert await queue.depth() == 1


async def test_same_key_other_body_is_a_mismatch(queue: WriteQueue) -> None:
    await queue.enqueue(make_write(1, key="k"))
    with pytest.raises(IdempotencyMismatch):
        await queue.enqueue(make_write(1, key="k", body=b'{"other": true}'))
    assert await queue.depth() == 1


async def test_idempotency_keys_are_scoped_per_identity(queue: WriteQueue) -> None:
    await queue.enqueue(make_write(1, key="k", identity="alice"))
    result = await queue.enqueue(make_write(1, key="k", identity="bob", body=b"{}"))
    assert result.created
    assert await queue.depth() == 2


async def test_claim_gives_heads_of_each_key_once(queue: WriteQueue) -> None:
    a1, a2, b1 = (
        make_write(1, order_key="A"),
        make_write(2, order_key="A"),
        make_write(1, order_key="B"),
    )
    for w in (a1, a2, b1):
        await queue.enqueue(w)
    claims = await queue.claim("c1", T0, LEASE, 10)
    assert sorted(c.write_id for c in claims) == sorted([a1.id, b1.id])
    assert all(c.attempts == 1 for c in claims)
    # Leased keys are not handed out again, to anyone.
    assert await queue.claim("c2", T0 + 1, LEASE, 10) == []
    assert await queue.claim("c1", T0 + 1, LEASE, 10) == []
    record = await queue.get(a1.id)
    assert record is not None
    assert record.state == "replaying"


async def test_max_keys_limits_a_claim(queue: WriteQueue) -> None:
    for key in "ABCDE":
        await queue.enqueue(make_write(1, order_key=key))
    assert len(await queue.claim("c1", T0, LEASE, 2)) == 2
    assert len(await queue.claim("c1", T0, LEASE, 10)) == 3


async def test_applied_head_unblocks_the_next_write_of_its_key(queue: WriteQueue) -> None:
    a1, a2 = make_write(1), make_write(2)
    await queue.enqueue(a1)
    await queue.enqueue(a2)
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    assert await queue.mark_applied(claim, 200, b'{"success": true}', T0 + 5)
    record = await queue.get(a1.id)
    assert record is not None
    assert record.state == "applied"
    assert record.applied_at == T0 + 5
    assert record.upstream_status == 200
    assert record.upstream_body == '{"success":true}'
    (nxt,) = await queue.claim("c1", T0 + 5, LEASE, 10)
    assert nxt.write_id == a2.id
    assert await queue.depth() == 1


async def test_retry_holds_the_key_until_its_time(queue: WriteQueue) -> None:
    a1, a2 = make_write(1), make_write(2)
    await queue.enqueue(a1)
    await queue.enqueue(a2)
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    assert await queue.mark_retry(claim, T0 + 60, 503, "upstream_503")
    record = await queue.get(a1.id)
    assert record is not None
    assert (record.state, record.next_attempt_at, record.upstream_status) == (
        "queued",
        T0 + 60,
        503,
    )
    assert record.last_error == "upstream_503"
    assert await queue.claim("c1", T0 + 59, LEASE, 10) == []
    (again,) = await queue.claim("c1", T0 + 60, LEASE, 10)
    assert again.write_id == a1.id
    assert again.attempts == 2


async def test_dead_letter_unblocks_the_key(queue: WriteQueue) -> None:
    a1, a2 = make_write(1), make_write(2)
    await queue.enqueue(a1)
    await queue.enqueue(a2)
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    body = b'{"success": false, "reasons": [{"code": 53100020, "message": "bad"}]}'
    assert await queue.mark_dead(claim, "upstream_400", 400, body, T0 + 1)
    record = await queue.get(a1.id)
    assert record is not None
    assert (record.state, record.dead_reason, record.upstream_status) == (
        "dead",
        "upstream_400",
        400,
    )
    assert await queue.dead_count() == 1
    assert [r.id for r in await queue.list("dead")] == [a1.id]
    (nxt,) = await queue.claim("c1", T0 + 1, LEASE, 10)
    assert nxt.write_id == a2.id


async def test_lapsed_lease_lets_another_consumer_claim_and_fences_the_first(
    queue: WriteQueue,
) -> None:
    await queue.enqueue(make_write(1))
    (first,) = await queue.claim("c1", T0, LEASE, 10)
    (second,) = await queue.claim("c2", T0 + LEASE + 1, LEASE, 10)
    assert second.write_id == first.write_id
    assert second.attempts == 2
    assert not await queue.mark_applied(first, 200, b"{}", T0 + 40)
    assert not await queue.renew(first, T0 + 40, LEASE)
    assert await queue.mark_applied(second, 200, b"{}", T0 + 40)
    assert await queue.depth() == 0


async def test_renew_extends_the_lease(queue: WriteQueue) -> None:
    await queue.enqueue(make_write(1))
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    assert await queue.renew(claim, T0 + 25, LEASE)
    assert await queue.claim("c2", T0 + 40, LEASE, 10) == []
    assert len(await queue.claim("c2", T0 + 56, LEASE, 10)) == 1


async def test_release_puts_the_head_back_without_an_outcome(queue: WriteQueue) -> None:
    write = make_write(1)
    await queue.enqueue(write)
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    assert await queue.release(claim, T0)
    record = await queue.get(write.id)
    assert record is not None
    assert record.state == "queued"
    (again,) = await queue.claim("c2", T0, LEASE, 10)
    assert again.write_id == write.id


async def test_expedite_releases_backoff_but_not_leases(queue: WriteQueue) -> None:
    held, leased = make_write(1), make_write(2, order_key="A00000002")
    await queue.enqueue(held)
    await queue.enqueue(leased)
    claims = await queue.claim("c1", T0, LEASE, 10)
    first = next(c for c in claims if c.write_id == held.id)
    assert await queue.mark_retry(first, T0 + 300, 503, "upstream_503")
    assert await queue.claim("c2", T0 + 1, LEASE, 10) == []  # one in backoff, one leased
    assert await queue.expedite(T0 + 1) == 1
    (again,) = await queue.claim("c2", T0 + 1, LEASE, 10)
    assert again.write_id == held.id
    assert await queue.expedite(T0 + 1) == 0  # nothing left in backoff


async def test_operator_retry_requeues_a_dead_write_at_the_end(queue: WriteQueue) -> None:
    a1, a2 = make_write(1), make_write(2)
    await queue.enqueue(a1)
    await queue.enqueue(a2)
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    await queue.mark_dead(claim, "upstream_400", 400, b"{}", T0)
    assert not await queue.retry(a2.id, T0)  # only dead writes
    assert await queue.retry(a1.id, T0 + 100)
    record = await queue.get(a1.id)
    assert record is not None
    assert record.state == "queued"
    assert record.requeued_at == T0 + 100
    assert record.dead_reason is None
    assert record.last_error == "dead: upstream_400"
    assert await queue.dead_count() == 0
    order = []
    for _ in range(2):
        (c,) = await queue.claim("c1", T0 + 100, LEASE, 10)
        order.append(c.write_id)
        await queue.mark_applied(c, 200, b"{}", T0 + 100)
    assert order == [a2.id, a1.id]


async def test_drop_removes_dead_and_waiting_writes_only(queue: WriteQueue) -> None:
    a1, a2, a3 = make_write(1), make_write(2), make_write(3)
    for w in (a1, a2, a3):
        await queue.enqueue(w)
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    assert not await queue.drop(a1.id)  # in flight
    assert await queue.drop(a3.id)  # waiting
    assert await queue.get(a3.id) is None
    await queue.mark_dead(claim, "upstream_400", 400, b"", T0)
    assert await queue.drop(a1.id)
    assert await queue.dead_count() == 0
    assert await queue.depth() == 1
    # The dropped write's key is free again.
    assert (await queue.enqueue(make_write(3, body=b"new"))).created


async def test_applied_writes_cannot_be_dropped_or_retried(queue: WriteQueue) -> None:
    await queue.enqueue(make_write(1))
    (claim,) = await queue.claim("c1", T0, LEASE, 10)
    await queue.mark_applied(claim, 201, b"", T0)
    assert not await queue.drop(claim.write_id)
    assert not await queue.retry(claim.write_id, T0)
    assert [r.id for r in await queue.list("applied")] == [claim.write_id]


async def test_list_filters_by_state(queue: WriteQueue) -> None:
    a1, a2, b1 = make_write(1), make_write(2), make_write(1, order_key="B")
    for w in (a1, a2, b1):
        await queue.enqueue(w)
    await queue.claim("c1", T0, LEASE, 1)
    replaying = [r.id for r in await queue.list("replaying")]
    queued = [r.id for r in await queue.list("queued")]
    assert len(replaying) == 1
    assert sorted(replaying + queued) == sorted([a1.id, a2.id, b1.id])
    assert len(await queue.list("queued", limit=1)) == 1


async def test_reclaim_puts_abandoned_writes_back_to_queued(queue: WriteQueue) -> None:
    write = make_write(1)
    await queue.enqueue(write)
    await queue.claim("crashed", T0, LEASE, 10)
    report = await _reclaim(queue, T0 + LEASE + 1)
    assert report.requeued == (write.id,)
    record = await queue.get(write.id)
    assert record is not None
    assert record.state == "queued"


async def test_reclaim_leaves_live_leases_alone(queue: WriteQueue) -> None:
    write = make_write(1)
    await queue.enqueue(write)
    await queue.claim("alive", T0, LEASE, 10)
    report = await _reclaim(queue, T0 + 1)
    assert report.requeued == ()
    record = await queue.get(write.id)
    assert record is not None
    assert record.state == "replaying"


async def _reclaim(queue: WriteQueue, now: float):  # type: ignore[no-untyped-def]
    from zproxy.queue.redis_queue import RedisWriteQueue

    if isinstance(queue, RedisWriteQueue):
        return await queue.reclaim(now, min_idle_ms=0)
    return await queue.reclaim(now)
