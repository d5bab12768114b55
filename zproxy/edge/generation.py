"""One generation of the services for a reloaded config: what the settings shape per request
(the settings themselves, the upstream client with its timeouts, the gateway's retry policy,
the coalescing wait) is built anew; what holds state across configs (Redis, cache, identities,
breakers, the concurrency limiter, the write queue, metrics, shutdown lists) is shared."""

from __future__ import annotations

from dataclasses import replace

from zproxy.config.model import Settings
from zproxy.edge.services import Services
from zproxy.store.coalesce import Coalescer, RedisLock
from zproxy.upstream.client import UpstreamClient
from zproxy.upstream.gateway import Gateway
from zproxy.upstream.wiring import build_retry


async def next_generation(first: Services, settings: Settings) -> Services:
    """Services for ``settings``, sharing ``first``'s long-lived parts."""
    upstream = UpstreamClient(settings.upstream)
    await upstream.open()
    gateway = Gateway(
        upstream,
        first.breakers,
        first.gateway.limiter,
        build_retry(settings, first.clock, first.metrics),
        first.metrics,
        first.clock,
    )
    coalescer = Coalescer(
        RedisLock(first.redis, ttl=settings.cache.lock_ms / 1000),
        clock=first.clock,
        wait=settings.upstream.total_timeout,
    )
    return replace(
        first, settings=settings, upstream=upstream, gateway=gateway, coalescer=coalescer
    )
