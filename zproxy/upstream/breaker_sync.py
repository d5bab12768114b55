"""Share breaker transitions between zproxy processes through one Redis.

Each group has a hash ``{prefix}:{breaker}:{group}`` (state, mode, opened_at as wall time,
origin, updated_at) and every local transition or mode change is also published on
``{prefix}:{breaker}:events`` as JSON, in the same transaction. The ``{breaker}`` hash tag keeps
every key and the channel in one slot, so on a Redis Cluster the transaction runs on one node
and the channel is a sharded one (``SPUBLISH``/``SSUBSCRIBE`` on the node that owns the slot;
redis-py's ``ClusterPubSub``). On one Redis or a Sentinel-monitored primary it is a plain
``PUBLISH``/``SUBSCRIBE`` on the primary. A subscriber task applies other processes' records to
the local ``BreakerSet`` (``Breaker.apply_remote``: never re-published, so no echo), and on every
(re)subscribe it reads the stored hashes so a process that starts, or comes back after a Redis
outage, adopts an open breaker or a forced mode it missed.

Redis is optional: while it is unreachable each process keeps its own breaker state. After a
failover (a Sentinel promotion, a Cluster slot moving) the subscription fails and is made again
on the new primary (a Sentinel client asks the sentinels on every new connection; on a Cluster
the stored hashes are read first, so redis-py re-reads a stale slot map before SSUBSCRIBE), and
the stored hashes are read again. Errors
are logged and retried with exponential backoff in the background; nothing is raised into
requests. Local changes made meanwhile are kept (latest per group) and published once Redis
answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog
from redis.asyncio.cluster import RedisCluster

from zproxy.store.connect import raise_if_cancelled
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import MODES, BreakerRecord, State

log = structlog.get_logger("zproxy.upstream.breaker_sync")

_STATES: tuple[State, ...] = ("closed", "half_open", "open")
#: The hash tag that keeps every shared key and the channel in one Cluster slot.
TAG = "{breaker}"


class BreakerSync:
    """Background tasks that publish local breaker changes and adopt remote ones."""

    def __init__(
        self,
        redis: aioredis.Redis,
        breakers: BreakerSet,
        *,
        prefix: str = "zproxy:breaker",
        instance_id: str | None = None,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        poll_timeout: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self._breakers = breakers
        self._prefix = prefix
        self.instance_id = instance_id or uuid.uuid4().hex
        self._initial_backoff = backoff
        self._max_backoff = max_backoff
        self._poll_timeout = poll_timeout
        self._sleep = sleep
        self._pending: dict[str, BreakerRecord] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = False
        self._backoff = backoff

    @property
    def channel(self) -> str:
        return f"{self._prefix}:{TAG}:events"

    def key(self, group: str) -> str:
        return f"{self._prefix}:{TAG}:{group}"

    @property
    def _cluster(self) -> RedisCluster | None:
        return self._redis if isinstance(self._redis, RedisCluster) else None

    @property
    def subscribed(self) -> bool:
        """True while the subscriber is connected (for /readyz detail, tests)."""
        return self._subscribed

    async def start(self) -> None:
        """Hook into every breaker and start the tasks. Never fails for want of Redis."""
        if self._tasks:
            return
        for breaker in self._breakers:
            breaker.set_publisher(self._enqueue)
        self._tasks = [
            asyncio.create_task(self._subscribe_loop(), name="breaker-sync-subscribe"),
            asyncio.create_task(self._publish_loop(), name="breaker-sync-publish"),
        ]

    async def stop(self) -> None:
        """Unhook and cancel the tasks; unpublished local changes are dropped."""
        for breaker in self._breakers:
            breaker.set_publisher(None)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- publishing local changes -------------------------------------------------------------

    def _enqueue(self, record: BreakerRecord) -> None:
        self._pending[record.group] = record
        self._wake.set()

    async def _publish_loop(self) -> None:
        backoff = self._initial_backoff
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                group, record = next(iter(self._pending.items()))
                try:
                    await self._write(record)
                except Exception as exc:
                    log.warning(
                        "breaker_sync_publish_failed",
                        group=group,
                        error=repr(exc),
                        retry_in=backoff,
                    )
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = self._initial_backoff
                if self._pending.get(group) is record:
                    del self._pending[group]

    async def _write(self, record: BreakerRecord) -> None:
        now = self._now()
        fields: dict[str, str] = {
            "state": record.state,
            "mode": record.mode,
            "opened_at": "" if record.opened_at is None else repr(record.opened_at),
            "origin": self.instance_id,
            "updated_at": repr(now),
        }
        message = orjson.dumps(
            {
                "group": record.group,
                "state": record.state,
                "mode": record.mode,
                "opened_at": record.opened_at,
                "origin": self.instance_id,
                "at": now,
            }
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(record.group), mapping=fields)  # type: ignore[arg-type]
            if self._cluster is not None:
                pipe.spublish(self.channel, message)
            else:
                pipe.publish(self.channel, message)
            await pipe.execute()

    def _now(self) -> float:
        return self._breakers.clock.time()

    # -- adopting remote changes --------------------------------------------------------------

    async def _subscribe_loop(self) -> None:
        while True:
            try:
                await self._listen()
            except Exception as exc:
                log.warning(
                    "breaker_sync_subscribe_failed", error=repr(exc), retry_in=self._backoff
                )
                await self._sleep(self._backoff)
                self._backoff = min(self._backoff * 2, self._max_backoff)

    async def _listen(self) -> None:
        cluster = self._cluster
        if cluster is not None:
            # Keyed reads first: where the slot's owner has changed they fail or are redirected,
            # and redis-py re-reads the slot map, which SSUBSCRIBE then goes by.
            await cluster.initialize()
            await self._load_stored()
            await self._listen_sharded(cluster)
            return
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            await self._adopt_stored()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self._poll_timeout
                )
                raise_if_cancelled()
                if message is not None and message.get("type") == "message":
                    self._apply_message(message["data"])
        finally:
            self._subscribed = False
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _listen_sharded(self, cluster: RedisCluster) -> None:
        pubsub = cluster.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.ssubscribe(self.channel)
            await self._adopt_stored()
            while True:
                message = await pubsub.get_sharded_message(
                    ignore_subscribe_messages=True, timeout=self._poll_timeout
                )
                raise_if_cancelled()
                if message is not None and message.get("type") == "smessage":
                    self._apply_message(message["data"])
        finally:
            self._subscribed = False
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _adopt_stored(self) -> None:
        """Subscribed: read what was stored meanwhile, then report and publish what waits."""
        await self._load_stored()
        self._subscribed = True
        self._backoff = self._initial_backoff
        if self._pending:
            self._wake.set()  # Redis is back: publish what we changed meanwhile

    async def _load_stored(self) -> None:
        for breaker in self._breakers:
            raw = await self._redis.hgetall(self.key(breaker.group))
            fields = {_text(k): _text(v) for k, v in raw.items()}
            if not fields or fields.get("origin") == self.instance_id:
                continue
            if breaker.group in self._pending:
                continue  # our own unpublished change is newer
            record = _decode(breaker.group, fields)
            if record is not None:
                breaker.apply_remote(record)

    def _apply_message(self, data: Any) -> None:
        try:
            body = orjson.loads(data)
            if not isinstance(body, dict) or body.get("origin") == self.instance_id:
                return
            group = body.get("group")
            if not isinstance(group, str) or group not in self._breakers:
                return
            record = _decode(group, body)
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            log.warning("breaker_sync_bad_message", error=repr(exc))
            return
        if record is None:
            log.warning("breaker_sync_bad_message", group=group)
            return
        self._breakers[group].apply_remote(record)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(group: str, fields: dict[str, Any]) -> BreakerRecord | None:
    """A record from a hash (all strings) or a message (JSON types); None if malformed."""
    state, mode, opened = fields.get("state"), fields.get("mode"), fields.get("opened_at")
    if state not in _STATES or mode not in MODES:
        return None
    opened_at: float | None
    if opened in (None, ""):
        opened_at = None
    else:
        try:
            opened_at = float(opened)
        except (TypeError, ValueError):
            return None
    return BreakerRecord(group, state, mode, opened_at)
