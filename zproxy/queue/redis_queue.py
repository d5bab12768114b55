"""The durable ``WriteQueue`` on Redis: streams + per-order-key lines, one Lua script per change.

Key layout and the role of the stream: see ``zproxy.queue.redis_scripts``.

Enqueue is one script (dedupe + XADD + line append + write hash) sent in one pipeline with
``WAITAOF 1 0 <ms>`` on the same connection when the server has it (the reply must confirm
>= 1 local fsync); otherwise the store relies on a verified ``appendfsync always``. With
``replicated`` durability ``WAIT 1 <ms>`` follows in the same pipeline: at least one replica
received the write (not ``WAITAOF 1 1``: see ``_enqueue_round_trip``). The
durability check runs at ``init`` and again every ``recheck_seconds`` (every second while it
fails) — never per write. Unconfirmed enqueues raise ``NotDurable`` and are rolled back (a 503
must not turn into a replay); Redis failures raise ``StoreUnavailable``. A rollback Redis does
not answer raises ``EnqueueUnknown`` instead: the write may be queued, so not a 503.

Use ``queue_redis_client``: it retries a command once on a fresh connection. That is safe
here: enqueue is deduped on its idempotency key, outcome scripts are fenced by the claim's
token, and ``FINISH`` answers 1 again to the claim that already finished the write.
"""

from __future__ import annotations

import builtins
import contextlib
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from zproxy.clock import Clock, SystemClock
from zproxy.errors import EnqueueUnknown, NotDurable, StoreUnavailable
from zproxy.queue import redis_scripts as lua
from zproxy.queue.crypto import Cipher
from zproxy.queue.durability import DurabilityStatus, check_durability
from zproxy.queue.model import (
    EnqueueResult,
    QueuedWrite,
    encode_write,
)
from zproxy.queue.redis_reads import QueueReads
from zproxy.queue.redis_replay import QueueReplay
from zproxy.queue.redis_support import command, fsync_always, queue_redis_client
from zproxy.queue.redis_support import sha_hex as _hash
from zproxy.queue.redis_support import text as _s
from zproxy.queue.redis_support import waitaof_confirmed as _confirmed
from zproxy.queue.store import IdempotencyMismatch
from zproxy.store._errors import mapped
from zproxy.store.connect import is_cluster
from zproxy.store.sends import never_sent, tracked

__all__ = ["RedisWriteQueue", "command", "queue_redis_client"]

log = structlog.get_logger("zproxy.queue")

DEDUPE_TTL = 90_000  # 25 h: longer than Zuora keeps an idempotency key (24 h)
APPLIED_RETENTION = 7 * 86_400
DEAD_RETENTION = 14 * 86_400


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


def _replica_acked(reply: Any) -> bool:
    """``WAIT`` answers how many replicas acknowledged the connection's writes."""
    return isinstance(reply, int) and reply >= 1


class RedisWriteQueue(QueueReads, QueueReplay):
    def __init__(
        self,
        client: aioredis.Redis,
        cipher: Cipher,
        *,
        prefix: str = "zq:",
        clock: Clock | None = None,
        waitaof_timeout_ms: int = 1000,
        recheck_seconds: float = 10.0,
        replicated: bool = False,
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
        self._replicated = replicated
        self._cluster = is_cluster(client)
        self._route = [prefix + "ready"]
        self._scripts = {name: client.register_script(getattr(lua, name)) for name in _SCRIPTS}

    # ---- durability -------------------------------------------------------------------------

    @property
    def durability(self) -> DurabilityStatus:
        """The last check's result (for /readyz and the ``zproxy_write_durable`` gauge)."""
        return self._status

    async def check_durability(self) -> DurabilityStatus:
        try:
            with mapped("queue"):
                self._status = await check_durability(
                    self._r, self._node(), replicated=self._replicated
                )
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

    def _node(self) -> Any:
        """On a Cluster: the node holding this queue's slot (else None)."""
        return cast(Any, self._r).get_node_from_key(self._route[0]) if self._cluster else None

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
            with tracked() as sends, mapped("queue"):
                replies = await self._enqueue_round_trip(idem, args, status.mode == "waitaof")
        except StoreUnavailable as exc:
            # Until the next check, later writes are refused before anything is sent.
            self._status = DurabilityStatus(False, str(exc), "none")
            self._checked_at = self._clock.monotonic()
            if not never_sent(sends, exc):
                # The script may have run before the connection failed: a 503 must not be
                # replayed, so it is withdrawn (or, Redis gone, the outcome is unknown).
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
        if self._replicated and not _replica_acked(replies[-1]):
            if code == 1:
                await self._rollback(write_id)
            raise NotDurable("WAIT: no replica acknowledged the write in time")
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
        """The script and WAITAOF in one pipeline: one connection, one round trip. WAITAOF and
        WAIT count the writes of the connection they run on, so on a Cluster every command is
        pinned to the node holding the slot and a redirection fails the enqueue instead of
        moving the write (and not its confirmation) elsewhere."""
        pipe = self._r.pipeline(transaction=False)
        node = self._node()
        pin: dict[str, Any] = {"target_nodes": node} if node is not None else {}
        if node is not None:  # a Cluster pipeline cannot load a script: send its text
            pipe.execute_command("EVAL", lua.ENQUEUE, 1, idem, *args, **pin)
        else:
            await self._scripts["ENQUEUE"](keys=[idem], args=args, client=pipe)
        if waitaof:
            pipe.execute_command("WAITAOF", 1, 0, self._waitaof_ms, **pin)
        else:
            # Same round trip: the fsync policy the write was appended under.
            pipe.execute_command("CONFIG", "GET", "appendonly", **pin)
            pipe.execute_command("CONFIG", "GET", "appendfsync", **pin)
        if self._replicated:
            # A replica holds the write (WAIT 1), not yet its fsync: WAITAOF 1 1 would wait
            # for the replica's once-a-second ack, about 1 s per write (see the README's
            # "Running a fleet"); replicas run appendfsync always and fsync it at once.
            pipe.execute_command("WAIT", 1, self._waitaof_ms, **pin)
        if node is not None:
            replies: builtins.list[Any] = await cast(Any, pipe).execute(
                raise_on_error=False, allow_redirections=False
            )
        else:
            replies = await pipe.execute(raise_on_error=False)
        return replies

    async def _rollback(self, write_id: str) -> None:
        try:
            await self.drop(write_id)
        except StoreUnavailable as exc:
            log.error("queue.rollback_failed", write_id=write_id)
            raise EnqueueUnknown(write_id) from exc

    # ---- operator ---------------------------------------------------------------------------

    async def retry(self, write_id: str, now: float) -> bool:
        with mapped("queue"):
            return (
                int(
                    await self._scripts["OPERATOR_RETRY"](
                        keys=self._route, args=[self._p, write_id, repr(now)]
                    )
                )
                == 1
            )

    async def drop(self, write_id: str) -> bool:
        with mapped("queue"):
            return int(await self._scripts["DROP"](keys=self._route, args=[self._p, write_id])) == 1

    async def expedite(self, now: float) -> int:
        with mapped("queue"):
            return int(await self._scripts["EXPEDITE"](keys=self._route, args=[self._p, repr(now)]))
