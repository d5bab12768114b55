"""The Redis write queue's replay side: claim line heads under a fenced lease, renew it,
record outcomes (``FINISH``, ``REQUEUE``), and sweep lapsed leases (``reclaim``).

A mixin of ``RedisWriteQueue`` (``zproxy.queue.redis_queue``); scripts in ``redis_scripts``.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.commands.core import AsyncScript

from zproxy.queue.crypto import Cipher
from zproxy.queue.model import Claim, ReclaimReport, decode_write
from zproxy.queue.redact import redact_text
from zproxy.queue.redis_support import command
from zproxy.queue.redis_support import opt_float as _opt_float
from zproxy.queue.redis_support import sha_hex as _hash
from zproxy.queue.redis_support import text as _s
from zproxy.store._errors import mapped

log = structlog.get_logger("zproxy.queue")

APPLIED_INDEX_KEEP = 10_000


class QueueReplay:
    _r: aioredis.Redis
    _p: str
    _cipher: Cipher
    _scripts: dict[str, AsyncScript]
    #: A key of this queue's prefix: routes every script to the node holding its slot.
    _route: builtins.list[str]
    _applied_retention: int
    _dead_retention: int

    async def claim(
        self, consumer_id: str, now: float, lease_seconds: float, max_keys: int
    ) -> Sequence[Claim]:
        token_base = f"{consumer_id}:{os.urandom(6).hex()}"
        args: builtins.list[Any] = [
            self._p,
            repr(now),
            repr(now + lease_seconds),
            max_keys,
            max_keys * 4 + 16,
        ]
        with mapped("queue"):
            rows = await self._scripts["CLAIM"](
                keys=self._route, args=[*args, token_base, consumer_id]
            )
        claims: list[Claim] = []
        for head, _okh, token, attempts, data, requeued, sid in rows:
            if int(attempts) < 0:
                log.error("queue.missing_write", write_id=_s(head))
                continue
            write = decode_write(self._cipher.decrypt(data))
            claims.append(Claim(write, _s(token), int(attempts), _opt_float(requeued), _s(sid)))
        return claims

    def _fence(self, claim: Claim) -> builtins.list[Any]:
        return [self._p, claim.token, _hash(claim.write.order_key), claim.write_id]

    async def renew(self, claim: Claim, now: float, lease_seconds: float) -> bool:
        consumer = claim.token.split(":", 1)[0]
        args = [*self._fence(claim), repr(now + lease_seconds), consumer]
        with mapped("queue"):
            return int(await self._scripts["RENEW"](keys=self._route, args=args)) == 1

    async def release(self, claim: Claim, now: float) -> bool:
        args = [*self._fence(claim), repr(now), 0, "", ""]
        with mapped("queue"):
            return int(await self._scripts["REQUEUE"](keys=self._route, args=args)) == 1

    async def mark_retry(
        self, claim: Claim, next_attempt_at: float, status: int | None, error: str
    ) -> bool:
        status_s = "" if status is None else str(status)
        args = [*self._fence(claim), repr(next_attempt_at), 1, status_s, error[:500]]
        with mapped("queue"):
            return int(await self._scripts["REQUEUE"](keys=self._route, args=args)) == 1

    async def mark_applied(self, claim: Claim, status: int, body: bytes, now: float) -> bool:
        return await self._finish(claim, "applied", status, body, "", now)

    async def mark_dead(
        self, claim: Claim, reason: str, status: int | None, body: bytes, now: float
    ) -> bool:
        return await self._finish(claim, "dead", status, body, reason, now)

    async def _finish(
        self, claim: Claim, state: str, status: int | None, body: bytes, reason: str, now: float
    ) -> bool:
        ubody = self._cipher.encrypt(redact_text(body).encode()) if body else b""
        applied = state == "applied"
        retention = self._applied_retention if applied else self._dead_retention
        keep = APPLIED_INDEX_KEEP if applied else 0
        status_s = "" if status is None else str(status)
        args = [*self._fence(claim), state, repr(now), status_s, ubody, reason, retention, keep]
        with mapped("queue"):
            return int(await self._scripts["FINISH"](keys=self._route, args=args)) == 1

    async def reclaim(self, now: float, min_idle_ms: int = 60_000) -> ReclaimReport:
        """Sweep the group's PEL: entries idle longer than ``min_idle_ms`` go back to the
        placeholder consumer; writes whose lease lapsed go back to "queued"; pending ids that
        no longer exist in the stream are returned (and logged) as evidence of loss."""
        requeued: list[str] = []
        missing: list[str] = []
        cursor = "0-0"
        with mapped("queue"):
            while True:
                reply = await command(
                    self._r,
                    "XAUTOCLAIM",
                    self._p + "log",
                    "replay",
                    "queued",
                    min_idle_ms,
                    cursor,
                    "COUNT",
                    200,
                )
                cursor = _s(reply[0])
                missing.extend(_s(i) for i in (reply[2] if len(reply) > 2 else []))
                for _sid, fields in reply[1]:
                    if fields and b"w" in fields:
                        write_id = _s(fields[b"w"])
                        if await self._unstick(write_id, now):
                            requeued.append(write_id)
                if cursor == "0-0":
                    break
        if missing:
            log.error("queue.pending_entries_missing", stream_ids=missing)
        return ReclaimReport(tuple(requeued), tuple(missing))

    async def _unstick(self, write_id: str, now: float) -> bool:
        return (
            int(
                await self._scripts["UNSTICK"](
                    keys=self._route, args=[self._p, write_id, repr(now)]
                )
            )
            == 1
        )
