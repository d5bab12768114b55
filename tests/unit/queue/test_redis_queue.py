"""What only the Redis queue promises: durability, encryption at rest, the stream as the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.queue import KEY, T0, make_write
from zproxy.clock import FakeClock
from zproxy.errors import NotDurable, StoreUnavailable
from zproxy.queue.crypto import Cipher
from zproxy.queue.durability import DurabilityFacts, DurabilityStatus, evaluate
from zproxy.queue.redis_queue import RedisWriteQueue, queue_redis_client
from zproxy.store.embedded import RedisServer, free_port


def _queue(url: str, clock: FakeClock | None = None) -> tuple[aioredis.Redis, RedisWriteQueue]:
    client = queue_redis_client(url)
    return client, RedisWriteQueue(client, Cipher({"k1": KEY}), clock=clock or FakeClock(T0))


@pytest.fixture
async def rq(redis_url: str) -> AsyncIterator[RedisWriteQueue]:
    client, queue = _queue(redis_url)
    await queue.init()
    yield queue
    await client.aclose()


async def test_stored_write_is_encrypted_at_rest(
    rq: RedisWriteQueue, redis_client: aioredis.Redis
) -> None:
    write = make_write(1, method="POST", body=b'{"secretField": "s3cr3t-value"}')
    await rq.enqueue(write)
    dump = b""
    async for key in redis_client.scan_iter("zq:*"):
        if await redis_client.type(key) == b"hash":
            fields: dict[bytes, bytes] = await redis_client.hgetall(key)  # type: ignore[assignment]
            dump += b"".join(fields.values())
    for secret in (b"s3cr3t-value", b"Bearer secret-token", b"A00000001"):
        assert secret not in dump
    # ... and the key names carry no order key (account number) either.
    keys = [k async for k in redis_client.scan_iter("zq:*")]
    assert not any(b"A00000001" in k for k in keys)


async def test_a_write_encrypted_with_an_old_key_still_decrypts(redis_url: str) -> None:
    old = Cipher.generate_key()
    client, _ = _queue(redis_url)
    queue_old = RedisWriteQueue(client, Cipher({"old": old}), clock=FakeClock(T0))
    await queue_old.init()
    write = make_write(1)
    await queue_old.enqueue(write)
    rotated = RedisWriteQueue(client, Cipher({"old": old, "new": KEY}), clock=FakeClock(T0))
    record = await rotated.get(write.id)
    assert record is not None
    assert record.write == write
    await client.aclose()


async def test_stream_holds_one_entry_per_unfinished_write_and_is_never_trimmed(
    rq: RedisWriteQueue, redis_client: aioredis.Redis
) -> None:
    writes = [make_write(n) for n in range(5)]
    for w in writes:
        await rq.enqueue(w)
    assert await redis_client.xlen("zq:log") == 5
    pending = await redis_client.xpending("zq:log", "replay")
    assert pending["pending"] == 5
    assert {c["name"] for c in pending["consumers"]} == {b"queued"}
    (claim,) = await rq.claim("worker-1", T0, 30, 10)
    detail = await redis_client.xpending_range("zq:log", "replay", "-", "+", 10)
    owners = {d["message_id"]: d["consumer"] for d in detail}
    assert owners[claim.stream_id.encode()] == b"worker-1"
    await rq.mark_applied(claim, 200, b"{}", T0)
    # Acknowledged and deleted only after the terminal outcome.
    assert await redis_client.xlen("zq:log") == 4
    assert (await redis_client.xpending("zq:log", "replay"))["pending"] == 4


async def test_reclaim_reports_pending_entries_deleted_from_the_stream(
    rq: RedisWriteQueue, redis_client: aioredis.Redis
) -> None:
    write = make_write(1)
    await rq.enqueue(write)
    (claim,) = await rq.claim("worker-1", T0, 30, 10)
    await redis_client.xdel("zq:log", claim.stream_id)  # what MAXLEN/XTRIM would do
    report = await rq.reclaim(T0 + 31, min_idle_ms=0)
    assert report.missing_stream_ids == (claim.stream_id,)
    # The write itself is still in its line and can be replayed.
    (again,) = await rq.claim("worker-2", T0 + 31, 30, 10)
    assert again.write_id == write.id


async def test_redis_without_aof_refuses_to_queue(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r", port=free_port(), appendonly=False)
    server.start()
    try:
        client, queue = _queue(server.url)
        status = await queue.init()
        assert not status.ok
        assert status.mode == "none"
        assert "appendonly" in status.reason
        with pytest.raises(NotDurable):
            await queue.enqueue(make_write(1))
        assert await client.xlen("zq:log") == 0
        assert [k async for k in client.scan_iter("zq:w:*")] == []
        await client.aclose()
    finally:
        server.stop()


async def test_appendfsync_everysec_refuses_at_once_and_recovers_after_a_recheck(
    own_system_redis: RedisServer,
) -> None:
    """A server without WAITAOF (Debian's 7.0) is trusted only under appendfsync always."""
    clock = FakeClock(T0)
    client, queue = _queue(own_system_redis.url, clock)
    assert (await queue.init()).mode == "appendfsync_always"
    await client.config_set("appendfsync", "everysec")
    refused = make_write(1)
    with pytest.raises(NotDurable):  # checked with every write, in the same round trip
        await queue.enqueue(refused)
    assert not queue.durability.ok
    assert await queue.get(refused.id) is None  # rolled back: a 503 is never replayed
    with pytest.raises(NotDurable):
        await queue.enqueue(make_write(2))
    await client.config_set("appendfsync", "always")
    clock.advance(1.5)
    assert (await queue.enqueue(make_write(2))).created
    await client.aclose()


async def test_eviction_policy_must_be_noeviction(own_redis: RedisServer) -> None:
    client, queue = _queue(own_redis.url)
    await client.config_set("maxmemory-policy", "allkeys-lru")
    status = await queue.init()
    assert not status.ok
    assert "noeviction" in status.reason
    await client.aclose()


async def test_redis_down_is_store_unavailable() -> None:
    client, queue = _queue(f"redis://127.0.0.1:{free_port()}/0")
    assert not (await queue.init()).ok
    with pytest.raises(NotDurable):
        await queue.enqueue(make_write(1))
    with pytest.raises(StoreUnavailable):
        await queue.depth()
    await client.aclose()


async def test_kill_9_after_enqueue_loses_nothing(own_redis: RedisServer) -> None:
    client, queue = _queue(own_redis.url)
    await queue.init()
    writes = [make_write(n, order_key=f"A{n % 7}") for n in range(200)]
    for w in writes:
        await queue.enqueue(w)
    own_redis.kill()
    with pytest.raises(StoreUnavailable):
        await queue.depth()
    own_redis.start()
    # Same client object: it reconnects by itself.
    assert await queue.depth() == 200
    for w in writes:
        record = await queue.get(w.id)
        assert record is not None
        assert record.write == w
        assert record.state == "queued"
    # Dedupe survived too.
    assert not (await queue.enqueue(make_write(3, order_key="A3"))).created
    await client.aclose()


def test_durability_decision_table() -> None:
    def facts(**kw: object) -> DurabilityFacts:
        base: dict[str, object] = {
            "aof_enabled": True,
            "aof_last_write_ok": True,
            "appendfsync": "always",
            "maxmemory_policy": "noeviction",
            "has_waitaof": False,
        }
        base.update(kw)
        return DurabilityFacts(**base)  # type: ignore[arg-type]

    assert evaluate(facts()).mode == "appendfsync_always"
    assert evaluate(facts(has_waitaof=True, appendfsync="everysec")).mode == "waitaof"
    assert evaluate(facts(has_waitaof=True, maxmemory_policy=None, appendfsync=None)).ok
    assert not evaluate(facts(appendfsync="everysec")).ok
    assert not evaluate(facts(appendfsync=None)).ok
    assert not evaluate(facts(aof_enabled=False, has_waitaof=True)).ok
    assert not evaluate(facts(aof_last_write_ok=False)).ok
    assert not evaluate(facts(maxmemory_policy="volatile-lru", has_waitaof=True)).ok


async def test_unconfirmed_waitaof_refuses_and_rolls_back(system_redis_url: str) -> None:
    # Redis 7.0 has no WAITAOF: pretend the check chose it, so the per-write confirmation fails.
    client, rq = _queue(system_redis_url)
    await rq.init()
    rq._status = DurabilityStatus(True, "pretend", "waitaof")
    rq._checked_at = rq._clock.monotonic()
    write = make_write(1)
    with pytest.raises(NotDurable):
        await rq.enqueue(write)
    assert await rq.get(write.id) is None
    assert await rq.depth() == 0
    # Nothing half-queued: the same key is free for the client's retry.
    await rq.check_durability()
    assert (await rq.enqueue(make_write(1))).created
    await client.aclose()
