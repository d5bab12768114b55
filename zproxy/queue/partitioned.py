"""The write queue split into ``partitions`` Redis queues by order key.

Partition ``i`` is a ``RedisWriteQueue`` under the prefix ``zq:{i}:`` (a hash tag: all of its
keys share one slot, so every script stays on one node and the partitions spread over a
Cluster's primaries). An order key always maps to the same partition (sha256 of the key), so
per-account order holds; claims, leases (the stream's PEL, XAUTOCLAIM sweeps) and dead letters
live in each partition. Look-ups by write id ask every partition (operator actions only).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

from zproxy.clock import Clock
from zproxy.errors import StoreUnavailable
from zproxy.queue.crypto import Cipher
from zproxy.queue.durability import DurabilityStatus
from zproxy.queue.idempotency import KeyReservations
from zproxy.queue.model import (
    Claim,
    EnqueueResult,
    QueuedWrite,
    ReclaimReport,
    WriteRecord,
    WriteState,
)
from zproxy.queue.redis_queue import DEDUPE_TTL, RedisWriteQueue
from zproxy.queue.redis_support import sha_hex


def partition_of(order_key: str, partitions: int) -> int:
    return int.from_bytes(hashlib.sha256(order_key.encode()).digest()[:8], "big") % partitions


def _listing_order(state: WriteState) -> Callable[[WriteRecord], float]:
    """Queued writes by acceptance; dead and applied ones by when they ended."""
    if state in ("dead", "applied"):
        return lambda r: r.applied_at if r.applied_at is not None else r.accepted_at
    return lambda r: r.accepted_at


class PartitionedWriteQueue:
    def __init__(
        self,
        client: aioredis.Redis,
        cipher: Cipher,
        *,
        partitions: int = 8,
        prefix: str = "zq:",
        clock: Clock | None = None,
        waitaof_timeout_ms: int = 1000,
        recheck_seconds: float = 10.0,
        replicated: bool = False,
        reclaim_idle_ms: int = 60_000,
    ) -> None:
        """``reclaim_idle_ms``: how long a stream entry sits unacknowledged in a consumer's
        PEL before ``reclaim`` sweeps it back (a crashed consumer's)."""
        self._reclaim_idle_ms = reclaim_idle_ms
        self.parts = [
            RedisWriteQueue(
                client,
                cipher,
                prefix=f"{prefix}{{{i}}}:",
                clock=clock,
                waitaof_timeout_ms=waitaof_timeout_ms,
                recheck_seconds=recheck_seconds,
                replicated=replicated,
            )
            for i in range(partitions)
        ]
        self._keys = [
            KeyReservations(client, f"{prefix}{{{i}}}:", DEDUPE_TTL) for i in range(partitions)
        ]
        self._next = 0

    def _of(self, order_key: str) -> RedisWriteQueue:
        return self.parts[partition_of(order_key, len(self.parts))]

    # ---- durability ----------------------------------------------------------------------

    @property
    def durability(self) -> DurabilityStatus:
        """The first partition not durable, else the first one's status."""
        return next((p.durability for p in self.parts if not p.durability.ok), self._first())

    def _first(self) -> DurabilityStatus:
        return self.parts[0].durability

    async def check_durability(self) -> DurabilityStatus:
        await asyncio.gather(*(p.check_durability() for p in self.parts))
        return self.durability

    async def init(self) -> DurabilityStatus:
        await asyncio.gather(*(p.init() for p in self.parts))
        return self.durability

    # ---- writes --------------------------------------------------------------------------

    async def enqueue(self, write: QueuedWrite) -> EnqueueResult:
        """Into the order key's partition, its idempotency key reserved first in the key's home
        partition, so reusing it for another account is seen (``queue.idempotency``)."""
        target = partition_of(write.order_key, len(self.parts))
        if len(self.parts) == 1:  # the partition's own dedupe sees every use of the key
            return await self.parts[target].enqueue(write)
        # Reserved even when home is the target: a later use for another account lands in
        # another partition, and only the reservation tells it about this one.
        home = partition_of(sha_hex(write.identity, write.idempotency_key), len(self.parts))
        keys = self._keys[home]
        reservation = await keys.reserve(write)
        if isinstance(reservation, str):
            return EnqueueResult(reservation, created=False)
        try:
            result = await self.parts[target].enqueue(write)
        except BaseException:
            with contextlib.suppress(Exception):
                await keys.release(reservation)
            raise
        # The write is durable: its 202 stands even if the key cannot be marked settled now
        # (the reservation then answers 409 to a reuse until it expires).
        with contextlib.suppress(StoreUnavailable):
            await keys.settle(reservation, result.write_id, write.body_hash)
        return result

    async def get(self, write_id: str) -> WriteRecord | None:
        found = await asyncio.gather(*(p.get(write_id) for p in self.parts))
        return next((r for r in found if r is not None), None)

    async def list(self, state: WriteState, limit: int = 100) -> Sequence[WriteRecord]:
        lists = await asyncio.gather(*(p.list(state, limit) for p in self.parts))
        merged = sorted((r for rs in lists for r in rs), key=_listing_order(state))
        if state == "applied":
            merged.reverse()  # newest first, as one partition lists them
        return merged[:limit]

    # ---- replay --------------------------------------------------------------------------

    async def claim(
        self, consumer_id: str, now: float, lease_seconds: float, max_keys: int
    ) -> Sequence[Claim]:
        """Heads from every partition, starting with a different one each time."""
        claims: builtins.list[Claim] = []
        n = len(self.parts)
        start, self._next = self._next, (self._next + 1) % n
        for i in range(n):
            if len(claims) >= max_keys:
                break
            part = self.parts[(start + i) % n]
            claims += await part.claim(consumer_id, now, lease_seconds, max_keys - len(claims))
        return claims

    async def renew(self, claim: Claim, now: float, lease_seconds: float) -> bool:
        return await self._of(claim.write.order_key).renew(claim, now, lease_seconds)

    async def release(self, claim: Claim, now: float) -> bool:
        return await self._of(claim.write.order_key).release(claim, now)

    async def mark_applied(self, claim: Claim, status: int, body: bytes, now: float) -> bool:
        return await self._of(claim.write.order_key).mark_applied(claim, status, body, now)

    async def mark_retry(
        self, claim: Claim, next_attempt_at: float, status: int | None, error: str
    ) -> bool:
        part = self._of(claim.write.order_key)
        return await part.mark_retry(claim, next_attempt_at, status, error)

    async def mark_dead(
        self, claim: Claim, reason: str, status: int | None, body: bytes, now: float
    ) -> bool:
        return await self._of(claim.write.order_key).mark_dead(claim, reason, status, body, now)

    async def reclaim(self, now: float, min_idle_ms: int | None = None) -> ReclaimReport:
        idle = self._reclaim_idle_ms if min_idle_ms is None else min_idle_ms
        reports = await asyncio.gather(*(p.reclaim(now, idle) for p in self.parts))
        return ReclaimReport(
            requeued=tuple(i for r in reports for i in r.requeued),
            missing_stream_ids=tuple(i for r in reports for i in r.missing_stream_ids),
        )

    async def expedite(self, now: float) -> int:
        return sum(await asyncio.gather(*(p.expedite(now) for p in self.parts)))

    # ---- operator ------------------------------------------------------------------------

    async def retry(self, write_id: str, now: float) -> bool:
        return any(await asyncio.gather(*(p.retry(write_id, now) for p in self.parts)))

    async def drop(self, write_id: str) -> bool:
        """Drop a waiting or dead write; its idempotency key is free again, here too."""
        record = await self.get(write_id)
        if record is None or not await self._of(record.write.order_key).drop(write_id):
            return False
        write = record.write
        home = partition_of(sha_hex(write.identity, write.idempotency_key), len(self.parts))
        await self._keys[home].forget(write, write_id)
        return True

    # ---- gauges --------------------------------------------------------------------------

    async def depth(self) -> int:
        return sum(await asyncio.gather(*(p.depth() for p in self.parts)))

    async def oldest_accepted_at(self) -> float | None:
        times = await asyncio.gather(*(p.oldest_accepted_at() for p in self.parts))
        return min((t for t in times if t is not None), default=None)

    async def dead_count(self) -> int:
        return sum(await asyncio.gather(*(p.dead_count() for p in self.parts)))

    async def pending_order_hashes(self, limit: int = 100_000) -> set[str]:
        found = await asyncio.gather(*(p.pending_order_hashes(limit) for p in self.parts))
        return set().union(*found)

    async def line_length(self, order_key: str) -> int:
        return await self._of(order_key).line_length(order_key)


#: What the write service and the outcome listener accept: one queue, or its partitions.
AnyRedisQueue = RedisWriteQueue | PartitionedWriteQueue
