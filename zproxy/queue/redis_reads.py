"""The Redis write queue's reads: records, listings and the gauges (depth, age, dead letters).

A mixin of ``RedisWriteQueue`` (``zproxy.queue.redis_queue``); key layout in ``redis_scripts``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from zproxy.clock import Clock
from zproxy.queue.crypto import Cipher
from zproxy.queue.model import WriteRecord, WriteState, decode_write
from zproxy.queue.redis_support import opt_float as _opt_float
from zproxy.queue.redis_support import sha_hex as _hash
from zproxy.queue.redis_support import text as _s
from zproxy.store._errors import mapped


class QueueReads:
    _r: aioredis.Redis
    _p: str
    _cipher: Cipher
    _clock: Clock
    _dead_retention: int

    async def get(self, write_id: str) -> WriteRecord | None:
        with mapped("queue"):
            raw: Any = await self._r.hgetall(f"{self._p}w:{write_id}")
        return self._record(raw) if raw else None

    def _record(self, raw: Any) -> WriteRecord:
        f = {_s(k): v for k, v in raw.items()}
        state: WriteState = _s(f["state"])  # type: ignore[assignment]
        ubody = f.get("ubody")
        status = f.get("status")
        return WriteRecord(
            write=decode_write(self._cipher.decrypt(f["data"])),
            state=state,
            attempts=int(_s(f.get("attempts", b"0"))),
            applied_at=_opt_float(f.get("done_at")) if state == "applied" else None,
            upstream_status=int(_s(status)) if status else None,
            upstream_body=_s(self._cipher.decrypt(ubody)) if ubody else None,
            dead_reason=_s(f["dead_reason"]) if f.get("dead_reason") else None,
            next_attempt_at=_opt_float(f.get("next_at")),
            last_error=_s(f["last_error"]) if f.get("last_error") else None,
            requeued_at=_opt_float(f.get("requeued_at")),
        )

    async def _records(self, ids: Sequence[str]) -> builtins.list[WriteRecord]:
        with mapped("queue"):
            pipe = self._r.pipeline(transaction=False)
            for write_id in ids:
                pipe.hgetall(f"{self._p}w:{write_id}")
            raws = await pipe.execute()
        return [self._record(raw) for raw in raws if raw]

    async def list(self, state: WriteState, limit: int = 100) -> Sequence[WriteRecord]:
        if state in ("dead", "applied"):
            index = self._p + state
            with mapped("queue"):
                if state == "dead":
                    ids = await self._r.zrange(index, 0, limit - 1)
                else:
                    ids = await self._r.zrevrange(index, 0, limit - 1)
            return await self._records([_s(i) for i in ids])
        found: list[WriteRecord] = []
        start = "-"
        while len(found) < limit:
            with mapped("queue"):
                entries: Any = await self._r.xrange(self._p + "log", start, "+", count=200)
            page = [e for e in entries if _s(e[0]) != start]
            if not page:
                break
            records = await self._records([_s(fields[b"w"]) for _, fields in page])
            found.extend(r for r in records if r.state == state)
            start = _s(page[-1][0])
        return found[:limit]

    async def depth(self) -> int:
        with mapped("queue"):
            return int(await self._r.xlen(self._p + "log"))

    async def oldest_accepted_at(self) -> float | None:
        with mapped("queue"):
            first: Any = await self._r.xrange(self._p + "log", "-", "+", count=1)
            if not first:
                return None
            h = f"{self._p}w:{_s(first[0][1][b'w'])}"
            accepted, requeued = await self._r.hmget(h, ["accepted_at", "requeued_at"])
        return _opt_float(requeued) or _opt_float(accepted)

    async def dead_count(self) -> int:
        with mapped("queue"):
            index = self._p + "dead"
            # Dead writes past retention have expired; forget their index entries.
            cutoff = self._clock.time() - self._dead_retention
            await self._r.zremrangebyscore(index, "-inf", cutoff)
            return int(await self._r.zcard(index))

    async def pending_order_hashes(self, limit: int = 100_000) -> set[str]:
        """Hashes of the order keys whose line is not empty (see ``queue.pending``)."""
        with mapped("queue"):
            members = await self._r.zrange(self._p + "ready", 0, limit - 1)
        return {_s(m) for m in members}

    async def line_length(self, order_key: str) -> int:
        """Writes waiting (queued or replaying) under ``order_key``."""
        with mapped("queue"):
            return int(await self._r.llen(f"{self._p}k:{_hash(order_key)}"))
