"""The durable write queue of one zproxy process: enqueue for the edge, the replayer loop that
drains it through the same gateway as live traffic, the listener that reports outcomes
(metrics, cache invalidation, logs), and the in-process view of which order keys have writes
waiting (``has_pending``, ``annotate_cache_status``; see ``zproxy.queue.pending``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from zproxy.clock import Clock
from zproxy.config.model import Settings
from zproxy.errors import (
    ConfigError,
    NotDurable,
    StoreUnavailable,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)
from zproxy.observability.metrics import Metrics
from zproxy.policy.routes import render_tags
from zproxy.policy.writes import ReplayResult
from zproxy.queue.crypto import Cipher, DecryptError
from zproxy.queue.model import EnqueueResult, QueuedWrite
from zproxy.queue.pending import PendingKeys
from zproxy.queue.redis_queue import RedisWriteQueue
from zproxy.queue.replayer import Replayer
from zproxy.store.cache import CacheStore, soft_purge
from zproxy.upstream.breaker import BreakerOpen, BreakerSet
from zproxy.upstream.gateway import Gateway, UpstreamCall
from zproxy.upstream.limiter import LimiterRejected

log = structlog.get_logger("zproxy.writes")
_TOKEN_PREFIX = "zq:tok:"  # noqa: S105 - a Redis key prefix

#: Seconds between refreshes of the pending order keys from Redis (other processes' writes).
PENDING_REFRESH = 1.0
PENDING_DETAIL = "pending-writes"
_DETAIL = re.compile(r'; detail=("[^"]*"|[^;]*)$')


def with_detail(cache_status: str, word: str) -> str:
    """``Cache-Status`` with ``word`` added to its (single) ``detail`` parameter."""
    found = _DETAIL.search(cache_status)
    if found is None:
        return f"{cache_status}; detail={word}"
    words = found.group(1).strip('"').split()
    if word in words:
        return cache_status
    return cache_status[: found.start()] + '; detail="' + " ".join([*words, word]) + '"'


def load_cipher(settings: Settings) -> Cipher:
    """``queue.encryption_key``: one Fernet key, or ``kid=key,kid=key`` (the last encrypts).

    Without one, a key is generated once into ``data_dir/queue.key`` (mode 0600); processes
    sharing a Redis from different hosts must be given the same key.
    """
    raw = settings.queue.encryption_key
    if not raw:
        path = Path(settings.data_dir).absolute() / "queue.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".queue.key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(Cipher.generate_key())
            try:
                os.link(tmp, path)  # atomic: the first process to link wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        raw = path.read_text().strip()
    keys: dict[str, str] = {}
    for i, part in enumerate(p.strip() for p in raw.split(",") if p.strip()):
        kid, sep, key = part.partition("=")
        if not sep or len(kid) > 32:  # a bare Fernet key ends in '=' padding: no kid
            kid, key = f"k{i}", part
        keys[kid] = key
    try:
        return Cipher(keys)
    except ConfigError as exc:
        raise ConfigError([f"ZPROXY_QUEUE_KEY: {p}" for p in exc.problems]) from None


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


class WriteService:
    """Enqueue for the edge; replay through ``gateway``; report outcomes to ``metrics``, the
    log and the cache (a replayed write soft-purges what it changed)."""

    def __init__(
        self,
        settings: Settings,
        queue: RedisWriteQueue,
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
            listener=self,
            can_send=self.can_send,
        )
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self.pending = PendingKeys()

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

    def annotate_cache_status(
        self, cache_status: str, tag_templates: Iterable[str], params: Mapping[str, str]
    ) -> str:
        """A read's ``Cache-Status`` with ``detail=pending-writes`` when one of its tags names an
        order key with queued writes; unchanged (and nothing rendered) when none are queued."""
        if not self.pending:
            return cache_status
        if self.pending.any_of(render_tags(tag_templates, params)):
            return with_detail(cache_status, PENDING_DETAIL)
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

    async def _forget_if_done(self, order_key: str) -> None:
        mark = self.pending.mark()
        try:
            if await self.queue.line_length(order_key) == 0:
                self.pending.discard_if_quiet(order_key, mark)
        except StoreUnavailable:
            return

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
        """Keep the newest bearer token of a principal (encrypted, until it expires)."""
        await self._redis.set(
            _TOKEN_PREFIX + principal,
            self._cipher.encrypt(token.encode()),
            px=max(1, int(expires_in * 1000)),
        )

    async def _current_headers(self, write: QueuedWrite) -> list[tuple[str, str]]:
        """The write's headers, with its bearer token replaced by the newest one its principal
        was granted (the one it was queued with may have expired during a long outage)."""
        headers = list(write.headers)
        if not any(n.lower() == "authorization" and v[:7].lower() == "bearer " for n, v in headers):
            return headers
        try:
            stored = await self._redis.get(_TOKEN_PREFIX + write.identity)
            raw = stored.encode() if isinstance(stored, str) else stored
            token = self._cipher.decrypt(raw).decode() if raw else None
        except (RedisError, DecryptError):
            token = None
        if token is None:
            return headers
        return [
            (n, f"Bearer {token}") if n.lower() == "authorization" else (n, v) for n, v in headers
        ]

    async def send(self, write: QueuedWrite) -> ReplayResult:
        route = self.settings.routes.get(write.route)
        group = route.breaker_group(write.method) if route else "writes"
        call = UpstreamCall(
            write.route,
            group,
            route.pool if route else "default",
            write.method,
            write.path,
            await self._current_headers(write),
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

    async def on_applied(self, write: QueuedWrite, status: int, body: bytes) -> None:
        self._metrics.on_write(write.route, "applied")
        log.info("write_applied", route=write.route, write_id=write.id, status=status)
        await self._forget_if_done(write.order_key)
        route = self.settings.routes.get(write.route)
        if route is None or route.write is None:
            return
        params = route.match(write.path.partition("?")[0]) or {}
        tags = render_tags(route.write.invalidates, params, _json(write.body), _json(body))
        if tags:
            await soft_purge(self._cache, tags, self._metrics.on_redis_error)

    async def on_retried(self, write: QueuedWrite, delay: float, reason: str) -> None:
        self._metrics.on_write(write.route, "retried")
        log.info(
            "write_retry",
            route=write.route,
            write_id=write.id,
            reason=reason,
            delay=round(delay, 2),
        )

    async def on_dead(
        self, write: QueuedWrite, reason: str, status: int | None, body: bytes
    ) -> None:
        self._metrics.on_write(write.route, "dead")
        await self._forget_if_done(write.order_key)
        log.warning(
            "write_dead",
            route=write.route,
            write_id=write.id,
            reason=reason,
            upstream_status=status,
        )
