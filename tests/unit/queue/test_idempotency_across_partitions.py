"""One idempotency key is one write even when its reuse names another account, whose writes live
in another partition of the queue (real Redis)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from tests.support.queue import KEY, make_write
from zproxy.queue.crypto import Cipher
from zproxy.queue.idempotency import PENDING_MS, IdempotencyInFlight, KeyReservations
from zproxy.queue.partitioned import PartitionedWriteQueue, partition_of
from zproxy.queue.redis_support import sha_hex
from zproxy.queue.store import IdempotencyMismatch

PARTS = 8


@pytest.fixture
async def queue(redis_client: aioredis.Redis) -> PartitionedWriteQueue:
    q = PartitionedWriteQueue(redis_client, Cipher({"k": KEY}), partitions=PARTS)
    await q.init()
    return q


def _split(key: str, identity: str = "id-1") -> tuple[str, str]:
    """Two accounts in partitions other than the key's home, and unlike each other."""
    home = partition_of(sha_hex(identity, key), PARTS)
    accounts = [f"A{n:08d}" for n in range(200)]
    first = next(a for a in accounts if partition_of(a, PARTS) != home)
    second = next(
        a for a in accounts if partition_of(a, PARTS) not in (home, partition_of(first, PARTS))
    )
    return first, second


async def test_a_key_reused_for_another_account_with_another_body_is_a_mismatch(
    queue: PartitionedWriteQueue,
) -> None:
    first_account, other_account = _split("client-key-1")
    first = await queue.enqueue(make_write(1, order_key=first_account, key="client-key-1"))
    assert first.created
    with pytest.raises(IdempotencyMismatch):
        await queue.enqueue(make_write(2, order_key=other_account, key="client-key-1"))
    assert await queue.depth() == 1


async def test_the_same_request_again_is_the_first_write(queue: PartitionedWriteQueue) -> None:
    account, _ = _split("client-key-2")
    write = make_write(1, order_key=account, key="client-key-2")
    first = await queue.enqueue(write)
    again = await queue.enqueue(make_write(1, order_key=account, key="client-key-2"))
    assert (again.write_id, again.created) == (first.write_id, False)
    assert await queue.depth() == 1


async def test_another_identity_may_use_the_same_key(queue: PartitionedWriteQueue) -> None:
    account, other = _split("shared-key")
    await queue.enqueue(make_write(1, order_key=account, key="shared-key"))
    second = await queue.enqueue(make_write(2, order_key=other, key="shared-key", identity="id-2"))
    assert second.created
    assert await queue.depth() == 2


async def test_a_reservation_still_pending_is_in_flight_and_a_failed_one_is_freed(
    redis_client: aioredis.Redis,
) -> None:
    keys = KeyReservations(redis_client, "zq:{0}:", 60)
    write = make_write(1, key="k-pending")
    reservation = await keys.reserve(write)
    assert not isinstance(reservation, str)
    with pytest.raises(IdempotencyInFlight):
        await keys.reserve(make_write(1, key="k-pending"))
    assert 0 < await redis_client.pttl(reservation.key) <= PENDING_MS
    await keys.release(reservation)
    assert not isinstance(await keys.reserve(make_write(1, key="k-pending")), str)


async def test_a_key_first_used_in_its_own_home_partition_is_still_seen_from_another(
    queue: PartitionedWriteQueue,
) -> None:
    """The first write's order key hashes to the key's home: it is reserved all the same."""
    key = "client-key-home"
    home = partition_of(sha_hex("id-1", key), PARTS)
    accounts = [f"A{n:08d}" for n in range(200)]
    at_home = next(a for a in accounts if partition_of(a, PARTS) == home)
    elsewhere = next(a for a in accounts if partition_of(a, PARTS) != home)
    assert (await queue.enqueue(make_write(1, order_key=at_home, key=key))).created
    with pytest.raises(IdempotencyMismatch):
        await queue.enqueue(make_write(2, order_key=elsewhere, key=key))
