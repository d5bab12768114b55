"""What a replayed write's outcome changes outside the queue: metrics, the log, the pending
order keys, and the cache (an applied write soft-purges the tags its route invalidates).

``OutcomeListener`` is the ``Replayer``'s listener; it hears only outcomes that were recorded.
"""

from __future__ import annotations

import orjson
import structlog

from zproxy.config.model import Settings
from zproxy.errors import StoreUnavailable
from zproxy.observability.metrics import Metrics
from zproxy.policy.routes import render_tags
from zproxy.queue.model import QueuedWrite
from zproxy.queue.partitioned import AnyRedisQueue
from zproxy.queue.pending import PendingKeys
from zproxy.store.cache import CacheStore, soft_purge

log = structlog.get_logger("zproxy.writes")


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


class OutcomeListener:
    def __init__(
        self,
        settings: Settings,
        queue: AnyRedisQueue,
        pending: PendingKeys,
        metrics: Metrics,
        cache: CacheStore,
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._pending = pending
        self._metrics = metrics
        self._cache = cache

    async def on_applied(self, write: QueuedWrite, status: int, body: bytes) -> None:
        self._metrics.on_write(write.route, "applied")
        log.info("write_applied", route=write.route, write_id=write.id, status=status)
        await self._forget_if_done(write.order_key)
        route = self._settings.routes.get(write.route)
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

    async def _forget_if_done(self, order_key: str) -> None:
        mark = self._pending.mark()
        try:
            if await self._queue.line_length(order_key) == 0:
                self._pending.discard_if_quiet(order_key, mark)
        except StoreUnavailable:
            return
