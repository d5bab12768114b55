"""The composition root: settings in, a running zproxy out.

Wires Redis (embedded or external), the upstream client, the proxy edge and the admin API,
then runs until SIGTERM/SIGINT: stop accepting, let in-flight requests finish (bounded by
``server.shutdown_timeout``), leave queued writes in Redis, exit 0. The pieces it calls live
in their layers: ``store.redis_runtime`` (the connection, the embedded server, the cache
secret), ``upstream.wiring`` (breakers, gateway), ``edge.listen`` (the proxy port) and
``admin.readiness`` (readiness checks, ``/readyz`` details).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web
from redis.asyncio import Redis

from zproxy.admin.api import routes as admin_routes
from zproxy.admin.app import build_admin_app
from zproxy.admin.config_api import LIVE
from zproxy.admin.config_api import routes as config_routes
from zproxy.admin.readiness import poll_breakers, ready_details, redis_ready
from zproxy.clock import Clock, SystemClock
from zproxy.config.model import Settings
from zproxy.config.redis_url import parse_redis_url
from zproxy.edge.generation import next_generation
from zproxy.edge.handler import ProxyHandler
from zproxy.edge.identity import Identities
from zproxy.edge.listen import open_proxy_port
from zproxy.edge.live import LiveConfig, Load
from zproxy.edge.recorder import Recorder
from zproxy.edge.services import Services
from zproxy.errors import ConfigError
from zproxy.observability.logging import configure_logging
from zproxy.observability.metrics import Metrics
from zproxy.policy import sensitive
from zproxy.policy.keys import Hasher
from zproxy.queue.partitioned import PartitionedWriteQueue
from zproxy.queue.redis_queue import queue_redis_client
from zproxy.queue.service import WriteService, load_cipher
from zproxy.store.coalesce import Coalescer, RedisLock
from zproxy.store.connect import warm
from zproxy.store.hot import HotLayer
from zproxy.store.hot_sync import HotCacheStore
from zproxy.store.hot_sync import listen as listen_hot
from zproxy.store.principals import PrincipalStore
from zproxy.store.redis import RedisCacheStore
from zproxy.store.redis_runtime import cache_secret, redis_connection
from zproxy.store.topology import TopologyWatch
from zproxy.upstream.breaker_sync import BreakerSync
from zproxy.upstream.client import UpstreamClient
from zproxy.upstream.wiring import build_breakers, build_gateway
from zproxy.workers import is_worker

log = structlog.get_logger("zproxy.app")
#: The in-process layer of hot entries per worker (bytes, bounded; zproxy.store.hot).
HOT_LAYER_BYTES = 64 << 20


@dataclass
class Running:
    services: Services
    proxy_runner: web.BaseRunner
    admin_runner: web.BaseRunner
    live: LiveConfig


def _recorder(settings: Settings, services: Services) -> Recorder | None:
    """``--record FILE``: started here, flushed by the stoppers; one file per worker."""
    if not settings.server.record:
        return None
    path = Path(settings.server.record)
    if is_worker():
        path = path.with_name(f"{path.name}.{os.getpid()}")
    recorder = Recorder(path)
    recorder.start()
    services.stoppers.append(recorder.stop)
    return recorder


async def start(
    settings: Settings,
    redis: Redis,
    redis_url: str,
    *,
    clock: Clock | None = None,
    load: Load | None = None,
) -> Running:
    """``load``: re-reads the settings on reload (file, environment, the same flags)."""
    clock = clock or SystemClock()
    metrics = Metrics()
    metrics.declare_routes(settings.routes.routes)
    upstream = UpstreamClient(settings.upstream)
    await upstream.open()
    hasher = Hasher(await cache_secret(settings, redis))
    layer = HotLayer(HOT_LAYER_BYTES)
    cache = HotCacheStore(RedisCacheStore(redis), layer, clock, redis)
    breakers = build_breakers(settings, clock, metrics)
    services = Services(
        settings=settings,
        metrics=metrics,
        clock=clock,
        upstream=upstream,
        redis=redis,
        hasher=hasher,
        identities=Identities(hasher, PrincipalStore(redis, clock), cache),
        cache=cache,
        coalescer=Coalescer(
            RedisLock(redis, ttl=settings.cache.lock_ms / 1000),
            clock=clock,
            wait=settings.upstream.total_timeout,
        ),
        breakers=breakers,
        gateway=build_gateway(settings, clock, metrics, upstream, breakers, redis),
    )
    services.readiness_checks.append(lambda: redis_ready(services))
    topology = TopologyWatch(
        redis,
        parse_redis_url(settings.redis.url).mode,
        metrics.on_redis_topology,
        need_replica=settings.queue.durability == "replicated",
    )
    services.readiness_checks.append(topology.check)
    services.metrics_refreshers.append(topology.report)
    hot = asyncio.create_task(listen_hot(redis, layer, on_error=metrics.on_redis_error))
    services.stoppers.append(functools.partial(_cancel, hot))
    sync = BreakerSync(redis, breakers)
    await sync.start()
    services.stoppers.append(sync.stop)
    services.stoppers.append(services.gateway.limiter.close)
    queue_client = queue_redis_client(redis_url, socket_timeout=settings.redis.socket_timeout)
    await warm(queue_client)
    cipher = load_cipher(settings)
    queue = PartitionedWriteQueue(
        queue_client,
        cipher,
        partitions=settings.queue.partitions,
        clock=clock,
        waitaof_timeout_ms=settings.queue.durability_timeout_ms,
        replicated=settings.queue.durability == "replicated",
    )
    writes = WriteService(
        settings,
        queue,
        cipher,
        redis=redis,
        clock=clock,
        metrics=metrics,
        gateway=services.gateway,
        breakers=breakers,
        cache=cache,
    )
    services.identities.on_grant = writes.remember_grant
    services.writes = writes
    await writes.start()
    services.stoppers.append(queue_client.aclose)
    services.stoppers.append(writes.stop)
    services.readiness_checks.append(writes.ready)
    services.metrics_refreshers.append(writes.refresh_metrics)
    services.metrics_refreshers.append(poll_breakers(breakers))
    handler = ProxyHandler(services, _recorder(settings, services))
    live = LiveConfig(
        handler,
        services,
        load=load or (lambda: settings),
        build=functools.partial(next_generation, services),
        redis=redis,
    )
    await live.start()
    services.stoppers.append(live.stop)
    proxy_runner = await open_proxy_port(handler, settings, reuse_port=is_worker())
    admin_app = build_admin_app(services, admin_routes, ready_details(topology, live))
    admin_app[LIVE] = live
    admin_app.add_routes(config_routes)
    admin_runner = web.AppRunner(
        admin_app, access_log=None, keepalive_timeout=15, shutdown_timeout=2
    )
    await admin_runner.setup()
    admin = settings.server.admin_listen
    await web.TCPSite(admin_runner, admin.host, admin.port, reuse_port=is_worker()).start()
    listen = settings.server.listen
    log.info(
        "started", listen=str(listen), admin_listen=str(admin), upstream=str(settings.upstream.url)
    )
    return Running(services, proxy_runner, admin_runner, live)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def stop(running: Running) -> None:
    services = running.services
    budget = services.settings.server.shutdown_timeout
    try:
        # aiohttp waits shutdown_timeout for in-flight handlers, then cancels and may wait
        # as long again: hold the whole stop to the promised budget.
        async with asyncio.timeout(budget + 0.5):
            await running.proxy_runner.cleanup()
    except TimeoutError:
        log.warning("shutdown_budget_spent", shutdown_timeout=budget)
    await running.admin_runner.cleanup()
    for task in list(services.background):
        task.cancel()
    for stopper in reversed(services.stoppers):
        await stopper()
    await services.upstream.close()


async def _reload(live: LiveConfig) -> None:
    """SIGHUP: a refused config is logged (``config_reload_refused``) and the old one stays."""
    with contextlib.suppress(ConfigError):
        await live.reload()


async def serve(settings: Settings, load: Load | None = None) -> int:
    configure_logging(sensitive.redact_value, settings.log.format, settings.log.level)
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_event.set)
    async with redis_connection(settings) as (redis, redis_url):
        running = await start(settings, redis, redis_url, load=load)
        reloads: set[asyncio.Task[None]] = set()

        def on_sighup() -> None:
            task = asyncio.create_task(_reload(running.live))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        await stop_event.wait()
        log.info("stopping", shutdown_timeout=settings.server.shutdown_timeout)
        await stop(running)
    log.info("stopped")
    return 0
