"""The durable write queue of one zproxy process: enqueue for the edge, the replayer loop that
drains it through the same gateway as live traffic, and the in-process view of which order keys
have writes waiting (``has_pending``, ``pending_details``; see ``zproxy.queue.pending``).
Outcomes are reported by ``queue.outcomes``; replays carry the newest token (``queue.grants``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterable, Mapping

import structlog
from redis.asyncio import Redis

from zproxy.clock import Clock
from zproxy.config.model import Settings
from zproxy.errors import (
    NotDurable,
    StoreUnavailable,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)
from zproxy.observability.metrics import Metrics
from zproxy.policy.replay import ReplayResult
from zproxy.policy.routes import render_tags
from zproxy.queue.crypto import Cipher
from zproxy.queue.grants import GrantStore
from zproxy.queue.keyfile import load_cipher
from zproxy.queue.model import EnqueueResult, QueuedWrite
from zproxy.queue.outcomes import OutcomeListener
from zproxy.queue.partitioned import AnyRedisQueue
from zproxy.queue.pending import PendingKeys
from zproxy.queue.replayer import Replayer
from zproxy.store.cache import CacheStore
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import BreakerOpen
from zproxy.upstream.gateway import Gateway, UpstreamCall
from zproxy.upstream.limiter import LimiterRejected

__all__ = ["PENDING_DETAIL", "WriteService", "load_cipher", "with_detail"]

log = structlog.get_logger("zproxy.writes")

#: Seconds between refreshes of the pending order keys from Redis (other processes' writes).
PENDING_REFRESH = 1.0
PENDING_DETAIL = "pending-writes"
_DETAIL = "; detail="


def with_detail(cache_status: str, word: str) -> str:
    """``Cache-Status`` with ``word`` added to its (single, last) ``detail`` parameter.

    Prefer ``pending_details`` passed to ``policy.reads.cache_status(details=...)``: this
    re-reads a rendered value and stays only for callers that have nothing else."""
    head, sep, tail = cache_status.rpartition(_DETAIL)
    if not sep:
        return f"{cache_status}{_DETAIL}{word}"
    words = tail.strip('"').split()
    if word in words:
        return cache_status
    return f'{head}{_DETAIL}"{" ".join([*words, word])}"'


class WriteService:
    """Enqueue for the edge; replay through ``gateway``; report outcomes to ``metrics``, the
    log and the cache (a replayed write soft-purges what it changed)."""

    def __init__(
        self,
        settings: Settings,
        queue: AnyRedisQueue,
        cipher: Cipher,
        *,
        redis: Redis,
        clock: Clock,
        metrics: Metrics,
        gateway: Gateway,
        breakers: BreakerSet,
        cache: CacheStore,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self._cipher = cipher
        self._redis = redis
        self._clock = clock
        self._metrics = metrics
        self._gateway = gateway
        self._breakers = breakers
        self._cache = cache
        self.pending = PendingKeys()
        self.grants = GrantStore(redis, cipher)
        self.outcomes = OutcomeListener(settings, queue, self.pending, metrics, cache)
        q = settings.queue
        consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.replayer = Replayer(
            queue,
            self.send,
            clock=clock,
            consumer_id=consumer.replace(":", "-"),
            concurrency=q.replay_concurrency,
            lease_seconds=q.lease_seconds,
            max_age=q.max_age,
            listener=self.outcomes,
            can_send=self.can_send,
        )
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            status = await self.queue.init()
        except StoreUnavailable:
            status = self.queue.durability
        self._metrics.on_durability(status.ok)
        if not status.ok:
            log.warning("write_queue_not_durable", reason=status.reason)
        await self.refresh_pending()
        self._breakers.add_listener(self)
        self._task = asyncio.create_task(self.replayer.run())
        self._refresher = asyncio.create_task(self._refresh_pending_loop())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        self.replayer.stop()
        if self._task is not None:
            try:
                async with asyncio.timeout(5):
                    await self._task
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    # -- the edge --------------------------------------------------------------------------

    async def enqueue(self, write: QueuedWrite) -> EnqueueResult:
        try:
            result = await self.queue.enqueue(write)
        except NotDurable:
            self._metrics.on_durability(False)
            raise
        self._metrics.on_durability(True)
        if result.created:
            self.pending.add(write.order_key)
            self._metrics.on_write(write.route, "queued")
            log.info("write_queued", route=write.route, write_id=result.write_id)
        self.replayer.wake()
        return result

    # -- pending writes (reads and live writes ask on every request: memory only) -------------

    def has_pending(self, order_key: str) -> bool:
        """Are writes for ``order_key`` waiting in the queue (as far as this process knows)?"""
        return self.pending.has(order_key)

    def pending_details(
        self, tag_templates: Iterable[str], params: Mapping[str, str]
    ) -> tuple[str, ...]:
        """The ``Cache-Status`` detail words for a read: ``pending-writes`` when one of its
        tags names an order key with queued writes (pass to ``cache_status(details=...)``);
        none, and nothing rendered, when no writes are queued."""
        if self.pending and self.pending.any_of(render_tags(tag_templates, params)):
            return (PENDING_DETAIL,)
        return ()

    def annotate_cache_status(
        self, cache_status: str, tag_templates: Iterable[str], params: Mapping[str, str]
    ) -> str:
        """A rendered ``Cache-Status`` with ``pending_details`` added (see ``with_detail``)."""
        for word in self.pending_details(tag_templates, params):
            cache_status = with_detail(cache_status, word)
        return cache_status

    async def refresh_pending(self) -> None:
        mark = self.pending.mark()
        try:
            hashes = await self.queue.pending_order_hashes()
        except StoreUnavailable:
            return
        self.pending.replace(hashes, mark)

    async def _refresh_pending_loop(self) -> None:
        while True:
            await asyncio.sleep(PENDING_REFRESH)
            try:
                await self.refresh_pending()
            except Exception:
                log.exception("pending_refresh_failed")

    async def ready(self) -> str | None:
        status = self.queue.durability
        return None if status.ok else f"write queue not durable: {status.reason}"

    async def refresh_metrics(self) -> None:
        try:
            depth = await self.queue.depth()
            oldest = await self.queue.oldest_accepted_at()
            dead = await self.queue.dead_count()
        except StoreUnavailable:
            self._metrics.on_durability(False)  # no Redis, no 202s
            return
        age = max(0.0, self._clock.time() - oldest) if oldest is not None else 0.0
        self._metrics.on_queue_stats(depth, age, dead)
        self._metrics.on_durability(self.queue.durability.ok)

    # -- the replayer's side ---------------------------------------------------------------

    def on_transition(self, group: str, old: str, new: str) -> None:
        """A breaker let go (here or in another process): replay now, not at the next poll.
        Once it has closed, Zuora is back: lines whose backoff grew while probes failed during
        the outage are released too, so the queue drains at once, not minutes later."""
        if new == "closed" and group == "writes":
            task = asyncio.create_task(self._expedite())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        elif new != "open":
            self.replayer.wake()

    async def _expedite(self) -> None:
        try:
            released = await self.queue.expedite(self._clock.time())
        except StoreUnavailable:
            released = 0
        if released:
            log.info("write_backoff_released", lines=released)
        self.replayer.wake()

    def can_send(self) -> bool:
        return not self._gateway.is_open("writes")

    async def remember_grant(self, principal: str, token: str, expires_in: float) -> None:
        """Keep the newest bearer token of a principal (``StoreUnavailable`` if Redis fails)."""
        await self.grants.remember(principal, token, expires_in)

    async def send(self, write: QueuedWrite) -> ReplayResult:
        route = self.settings.routes.get(write.route)
        group = route.breaker_group(write.method) if route else "writes"
        call = UpstreamCall(
            write.route,
            group,
            route.pool if route else "default",
            write.method,
            write.path,
            await self.grants.headers_for(write),
            write.body,
        )
        try:
            resp = await self._gateway.send(call)
        except (BreakerOpen, LimiterRejected):
            return ReplayResult(error="breaker_open")
        except UpstreamConnectError:
            return ReplayResult(error="connect")
        except UpstreamTimeout:
            return ReplayResult(error="timeout")
        except UpstreamError:
            return ReplayResult(error="reset")
        return ReplayResult(resp.status, resp.body, tuple(resp.headers.items()))
