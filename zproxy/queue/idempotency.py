"""One idempotency key, one write, across partitions.

A partition dedupes the writes it holds (its enqueue script checks ``P:idem:<h>``), but the
queue is split by order key: the same identity and ``Idempotency-Key`` sent again for another
account lands in another partition, where that check cannot see the first write. Such a
reuse would then be accepted (202) and refused by Zuora on replay (422), a promise broken.

So every write first reserves its key in the key's home partition (``SET NX``; with one
partition there is nothing to reserve): ``"<write id> <body hash> pending"`` for a short while,
``... done`` for the dedupe window once the write is queued. A second request with the key
reads the reservation: another body is a mismatch (422), the same body is the first write
(202 with its id), and a first write still being queued is in flight (409, as Zuora answers).
A reservation whose enqueue failed is removed; one left by a crash expires after
``PENDING_MS``. Each step is one key in one slot, so this works on a Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from zproxy.errors import ZproxyError
from zproxy.queue.model import QueuedWrite
from zproxy.queue.redis_support import sha_hex, text
from zproxy.queue.store import IdempotencyMismatch
from zproxy.store._errors import mapped

#: How long a reservation waits for its write to be queued (the enqueue's own bound is the
#: durability timeout plus a second).
PENDING_MS = 30_000


class IdempotencyInFlight(ZproxyError):
    """The first request with this idempotency key is still being queued: answer 409."""

    status = 409
    code = "ZPROXY_IDEMPOTENCY_KEY_IN_FLIGHT"


@dataclass(frozen=True, slots=True)
class Reservation:
    key: str
    value: str


class KeyReservations:
    """Reservations of idempotency keys under ``prefix`` (a partition's, hash-tagged)."""

    def __init__(self, client: aioredis.Redis, prefix: str, dedupe_ttl: int) -> None:
        """``dedupe_ttl``: seconds a settled key is remembered."""
        self._r = client
        self._p = prefix
        self._ttl = dedupe_ttl

    def _key(self, write: QueuedWrite) -> str:
        return f"{self._p}idemres:{sha_hex(write.identity, write.idempotency_key)}"

    async def reserve(self, write: QueuedWrite) -> Reservation | str:
        """Our reservation, or the write id an earlier request with this key was given.

        Raises ``IdempotencyMismatch`` (another body) or ``IdempotencyInFlight``."""
        key = self._key(write)
        mine = f"{write.id} {write.body_hash} pending"
        with mapped("queue"):
            if await self._r.set(key, mine, nx=True, px=PENDING_MS):
                return Reservation(key, mine)
            found = await self._r.get(key)
        if found is None:  # expired between the two calls: a crashed first attempt
            return await self.reserve(write)
        write_id, body_hash, state = text(found).split(" ")
        if body_hash != write.body_hash:
            raise IdempotencyMismatch(write_id)
        if state != "done":
            raise IdempotencyInFlight(write_id)
        return write_id

    async def settle(self, reservation: Reservation, write_id: str, body_hash: str) -> None:
        """The write is queued (``write_id``: a partition may have deduped it to an older one)."""
        with mapped("queue"):
            await self._r.set(reservation.key, f"{write_id} {body_hash} done", ex=self._ttl)

    async def release(self, reservation: Reservation) -> None:
        """The enqueue failed: free the key, if the reservation is still ours."""
        with mapped("queue"):
            if text(await self._r.get(reservation.key) or b"") == reservation.value:
                await self._r.delete(reservation.key)

    async def forget(self, write: QueuedWrite, write_id: str) -> None:
        """``write_id`` was dropped by an operator: its key may be used again."""
        key = self._key(write)
        with mapped("queue"):
            found = await self._r.get(key)
            if found is not None and text(found).split(" ")[0] == write_id:
                await self._r.delete(key)
