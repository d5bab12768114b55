"""The durable ``WriteQueue`` on Redis: streams + per-order-key lines, one Lua script per change.

Key layout and the role of the stream: see ``zproxy.queue.redis_scripts``.

Enqueue is one script (dedupe + XADD + line append + write hash) sent in one pipeline with
``WAITAOF 1 0 <ms>`` on the same connection when the server has it (the reply must confirm
>= 1 local fsync); otherwise the store relies on a verified ``appendfsync always``. The
durability check runs at ``init`` and again every ``recheck_seconds`` (every second while it
fails) — never per write. Unconfirmed enqueues raise ``NotDurable`` and are rolled back best
effort (a 503 must not turn into a replay); Redis failures raise ``StoreUnavailable``.

Use ``queue_redis_client``: it retries a command once on a fresh connection. That is safe
here: enqueue is deduped on its idempotency key, outcome scripts are fenced by the claim's
token, and ``FINISH`` answers 1 again to the claim that already finished the write.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from zproxy.clock import Clock, SystemClock
from zproxy.errors import NotDurable, StoreUnavailable
from zproxy.queue import redis_scripts as lua
from zproxy.queue.crypto import Cipher
from zproxy.queue.durability import DurabilityStatus, check_durability
from zproxy.queue.model import (
    Claim,
    EnqueueResult,
    QueuedWrite,
    ReclaimReport,
    WriteRecord,
    WriteState,
    decode_write,
    encode_write,
)
from zproxy.queue.redact import redact_text
from zproxy.queue.redis_support import command, fsync_always, queue_redis_client
from zproxy.queue.redis_support import opt_float as _opt_float
from zproxy.queue.redis_support import sha_hex as _hash
from zproxy.queue.redis_support import text as _s
from zproxy.queue.redis_support import waitaof_confirmed as _confirmed
from zproxy.queue.store import IdempotencyMismatch
from zproxy.store._errors import mapped

__all__ = ["RedisWriteQueue", "command", "queue_redis_client"]

log = structlog.get_logger("zproxy.queue")

DEDUPE_TTL = 90_000  # 25 h: longer than Zuora keeps an idempotency key (24 h)
APPLIED_RETENTION = 7 * 86_400
DEAD_RETENTION = 14 * 86_400
APPLIED_INDEX_KEEP = 10_000


_SCRIPTS = (
    "ENQUEUE",
    "CLAIM",
    "RENEW",
    "REQUEUE",
    "FINISH",
    "OPERATOR_RETRY",
    "DROP",
    "UNSTICK",
    "EXPEDITE",
)


class RedisWriteQueue:
    def __init__(
        self,
        client: aioredis.Redis,
        cipher: Cipher,
        *,
        prefix: str = "zq:",
        clock: Clock | None = None,
        waitaof_timeout_ms: int = 1000,
        recheck_seconds: float = 10.0,
        dedupe_ttl: int = DEDUPE_TTL,
        applied_retention: int = APPLIED_RETENTION,
        dead_retention: int = DEAD_RETENTION,
    ) -> None:
        self._r = client
        self._cipher = cipher
        self._p = prefix
        self._clock = clock or SystemClock()
        self._waitaof_ms = waitaof_timeout_ms
        self._recheck = recheck_seconds
        self._dedupe_ttl = dedupe_ttl
        self._applied_retention = applied_retention
        self._dead_retention = dead_retention
        self._status = DurabilityStatus(False, "not checked yet", "none")
        self._checked_at: float | None = None
        self._scripts = {name: client.register_script(getattr(lua, name)) for name in _SCRIPTS}

    # ---- durability -------------------------------------------------------------------------

    @property
    def durability(self) -> DurabilityStatus:
        """The last check's result (for /readyz and the ``zproxy_write_durable`` gauge)."""
        return self._status

    async def check_durability(self) -> DurabilityStatus:
        try:
            with mapped("queue"):
                self._status = await check_durability(self._r)
        except StoreUnavailable as exc:
            self._status = DurabilityStatus(False, str(exc), "none")
        self._checked_at = self._clock.monotonic()
        return self._status

    async def init(self) -> DurabilityStatus:
        """Create the consumer group and check durability; call once at start-up."""
        # BUSYGROUP: it exists already; Redis down: the check below says so (and enqueue
        # creates the group itself when it is missing).
        with contextlib.suppress(RedisError):
            await self._r.xgroup_create(self._p + "log", "replay", id="0", mkstream=True)
        return await self.check_durability()

    async def _durable_status(self) -> DurabilityStatus:
        interval = self._recheck if self._status.ok else min(1.0, self._recheck)
        now = self._clock.monotonic()
        if self._checked_at is None or now - self._checked_at >= interval:
            await self.check_durability()
        return self._status

    # ---- enqueue ------------------------------------------------------------------------------

    async def enqueue(self, write: QueuedWrite) -> EnqueueResult:
        status = await self._durable_status()
        if not status.ok:
            raise NotDurable(status.reason)
        idem = f"{self._p}idem:{_hash(write.identity, write.idempotency_key)}"
        args: builtins.list[Any] = [
            self._p,
            write.id,
            write.body_hash,
            self._cipher.encrypt(encode_write(write)),
            _hash(write.order_key),
            repr(write.accepted_at),
            self._dedupe_ttl,
        ]
        try:
            with mapped("queue"):
                replies = await self._enqueue_round_trip(idem, args, status.mode == "waitaof")
        except StoreUnavailable:
            # The script may have run before the connection failed: a 503 must not be replayed.
            await self._rollback(write.id)
            raise
        if isinstance(replies[0], Exception):
            raise StoreUnavailable(f"enqueue failed: {type(replies[0]).__name__}")
        code, write_id = int(replies[0][0]), _s(replies[0][1])
        if code == 2:
            raise IdempotencyMismatch(write_id)
        if status.mode == "waitaof" and not _confirmed(replies[1]):
            if code == 1:
                await self._rollback(write_id)
            raise NotDurable("WAITAOF did not confirm a local fsync in time")
        if status.mode != "waitaof" and not fsync_always(replies[1], replies[2]):
            # Reconfigured since the last check: this write may not be on disk.
            if code == 1:
                await self._rollback(write_id)
            self._status = DurabilityStatus(False, "appendonly/appendfsync changed", "none")
            self._checked_at = self._clock.monotonic()
            raise NotDurable("Redis no longer runs appendonly yes + appendfsync always")
        return EnqueueResult(write_id, created=code == 1)

    async def _enqueue_round_trip(
        self, idem: str, args: builtins.list[Any], waitaof: bool
    ) -> builtins.list[Any]:
        """The script and WAITAOF in one pipeline: one connection, one round trip."""
        pipe = self._r.pipeline(transaction=False)
        await self._scripts["ENQUEUE"](keys=[idem], args=args, client=pipe)
        if waitaof:
            pipe.execute_command("WAITAOF", 1, 0, self._waitaof_ms)
        else:
            # Same round trip: the fsync policy the write was appended under.
            pipe.execute_command("CONFIG", "GET", "appendonly")
            pipe.execute_command("CONFIG", "GET", "appendfsync")
        replies: builtins.list[Any] = await pipe.execute(raise_on_error=False)
        return replies

    async def _rollback(self, write_id: str) -> None:
        try:
            await self.drop(write_id)
        except StoreUnavailable:
            log.error("queue.rollback_failed", write_id=write_id)

    # ---- reads ---------------------------------------------------------------------------------

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

    # ---- replay -----------------------------------------------------------------------------

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
            rows = await self._scripts["CLAIM"](args=[*args, token_base, consumer_id])
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
            return int(await self._scripts["RENEW"](args=args)) == 1

    async def release(self, claim: Claim, now: float) -> bool:
        args = [*self._fence(claim), repr(now), 0, "", ""]
        with mapped("queue"):
            return int(await self._scripts["REQUEUE"](args=args)) == 1

    async def mark_retry(
        self, claim: Claim, next_attempt_at: float, status: int | None, error: str
    ) -> bool:
        status_s = "" if status is None else str(status)
        args = [*self._fence(claim), repr(next_attempt_at), 1, status_s, error[:500]]
        with mapped("queue"):
            return int(await self._scripts["REQUEUE"](args=args)) == 1

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
            return int(await self._scripts["FINISH"](args=args)) == 1

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
        return int(await self._scripts["UNSTICK"](args=[self._p, write_id, repr(now)])) == 1

    # ---- operator ---------------------------------------------------------------------------

    async def retry(self, write_id: str, now: float) -> bool:
        with mapped("queue"):
            return (
                int(await self._scripts["OPERATOR_RETRY"](args=[self._p, write_id, repr(now)])) == 1
            )

    async def drop(self, write_id: str) -> bool:
        with mapped("queue"):
            return int(await self._scripts["DROP"](args=[self._p, write_id])) == 1

    async def expedite(self, now: float) -> int:
        with mapped("queue"):
            return int(await self._scripts["EXPEDITE"](args=[self._p, repr(now)]))
