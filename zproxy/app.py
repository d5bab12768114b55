"""The composition root: settings in, a running zproxy out.

Wires Redis (embedded or external), the upstream client, the proxy edge and the admin API,
then runs until SIGTERM/SIGINT: stop accepting, let in-flight requests finish (bounded by
``server.shutdown_timeout``), leave queued writes in Redis, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web
from redis.asyncio import Redis

from zproxy.admin.api import routes as admin_routes
from zproxy.admin.app import ReadyDetails, build_admin_app
from zproxy.admin.config_api import LIVE
from zproxy.admin.config_api import routes as config_routes
from zproxy.clock import Clock, SystemClock
from zproxy.config.model import Settings
from zproxy.config.redis_url import parse_redis_url
from zproxy.edge.generation import next_generation
from zproxy.edge.handler import ProxyHandler
from zproxy.edge.identity import Identities
from zproxy.edge.live import LiveConfig, Load
from zproxy.edge.recorder import Recorder
from zproxy.edge.server import ProxyServer
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
from zproxy.store.connect import redis_client, warm
from zproxy.store.embedded import RedisServer
from zproxy.store.hot import HotLayer
from zproxy.store.hot_sync import HotCacheStore
from zproxy.store.hot_sync import listen as listen_hot
from zproxy.store.principals import PrincipalStore
from zproxy.store.redis import RedisCacheStore
from zproxy.store.topology import TopologyWatch
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import BreakerConfig
from zproxy.upstream.breaker_sync import BreakerSync
from zproxy.upstream.client import UpstreamClient
from zproxy.upstream.fleet_limiter import FleetLimiter
from zproxy.upstream.gateway import Gateway
from zproxy.upstream.limiter import ConcurrencyLimiter, LimiterConfig
from zproxy.upstream.retry import RetryBudget, RetryConfig, RetryPolicy
from zproxy.workers import is_worker

log = structlog.get_logger("zproxy.app")
#: The in-process layer of hot entries per worker (bytes, bounded; zproxy.store.hot).
HOT_LAYER_BYTES = 64 << 20
_SECRET_KEY = "zproxy:cache-secret"  # noqa: S105 - a Redis key name, not a secret


@dataclass
class Running:
    services: Services
    proxy_runner: web.BaseRunner
    admin_runner: web.BaseRunner
    live: LiveConfig


@contextlib.asynccontextmanager
async def redis_connection(settings: Settings) -> AsyncIterator[tuple[Redis, str]]:
    """Start the embedded redis-server when asked to, connect, and clean up both."""
    embedded: RedisServer | None = None
    url = settings.redis.url
    if url == "embedded":
        embedded = RedisServer(settings.data_dir.absolute() / "redis")
        await asyncio.to_thread(embedded.start)
        url = embedded.url
        log.info("embedded_redis_started", binary=embedded.binary, socket=str(embedded.socket_path))
    timeout = settings.redis.socket_timeout
    # Blocking pool: under load callers wait briefly for a connection instead of failing;
    # a command on a connection a Redis restart left dead is retried once on a fresh one.
    client = redis_client(
        url,
        socket_timeout=timeout,
        connect_timeout=timeout,
        max_connections=256,
        pool_wait=timeout,
    )
    await warm(client)
    watcher = asyncio.create_task(_keep_running(embedded)) if embedded is not None else None
    try:
        yield client, url
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _keep_running(embedded: RedisServer) -> None:
    """The embedded redis-server died (OOM killer, kill -9): start it again on the same data
    (the AOF brings the queue back) instead of staying unready until zproxy is restarted."""
    backoff = 0.5
    while True:
        await asyncio.sleep(1.0)
        if embedded.running():
            backoff = 0.5
            continue
        log.error("embedded_redis_exited", code=embedded.proc.returncode if embedded.proc else None)
        try:
            await asyncio.to_thread(embedded.start)
            log.info("embedded_redis_restarted")
        except ConfigError as exc:
            log.error("embedded_redis_restart_failed", reason="; ".join(exc.problems))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


async def redis_ready(services: Services) -> str | None:
    assert services.redis is not None
    try:
        await services.redis.ping()
    except Exception as exc:
        return f"redis: {type(exc).__name__}"
    return None


async def cache_secret(settings: Settings, redis: Redis) -> bytes:
    """The per-deployment key for identity hashes: configured, else shared through Redis."""
    if settings.cache.secret:
        return settings.cache.secret.encode()
    try:
        await redis.set(_SECRET_KEY, secrets.token_hex(32), nx=True)
        value = await redis.get(_SECRET_KEY)
        if value:
            return value if isinstance(value, bytes) else str(value).encode()
    except Exception as exc:
        log.warning("cache_secret_unshared", error=type(exc).__name__)
    return secrets.token_bytes(32)


def _breakers(settings: Settings, clock: Clock, metrics: Metrics) -> BreakerSet:
    configs = {
        group: BreakerConfig(
            failure_threshold=b.fail_max,
            failure_ratio=b.failure_ratio,
            ratio_window=b.window,
            min_calls=b.min_volume,
            reset_timeout=b.reset_timeout,
            half_open_probes=b.half_open_probes,
            probe_timeout=b.probe_timeout,
        )
        for group, b in settings.breakers.items()
    }
    return BreakerSet(clock, configs, listeners=[metrics])


def _gateway(
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    upstream: UpstreamClient,
    breakers: BreakerSet,
    redis: Redis,
) -> Gateway:
    r = settings.retry
    retry_config = RetryConfig(
        max_attempts=r.max_attempts,
        base_delay=r.base_delay,
        max_delay=r.max_delay,
        deadline=r.deadline,
        budget_ratio=r.budget_ratio,
        budget_window=r.budget_window,
        budget_min_retries=r.budget_min_retries,
    )
    retry = RetryPolicy(
        retry_config, clock, budget=RetryBudget.from_config(retry_config, clock, metrics)
    )
    local = ConcurrencyLimiter(
        LimiterConfig(pools=dict(settings.upstream.pools), max_wait=settings.upstream.pool_wait),
        clock,
        listener=metrics,
    )
    # Zuora caps concurrency per tenant: the pools are shared by every process using this URL.
    scope = f"{settings.upstream.url.host}:{settings.upstream.url.port}"
    limiter = FleetLimiter(local, redis, scope=scope, listener=metrics)
    return Gateway(upstream, breakers, limiter, retry, metrics, clock)


def _poll_breakers(breakers: BreakerSet) -> Callable[[], Awaitable[None]]:
    """A scrape makes the breakers' due transitions, so the state gauges are current."""

    async def poll() -> None:
        breakers.poll()

    return poll


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


def _ready_details(topology: TopologyWatch, live: LiveConfig) -> ReadyDetails:
    """``/readyz`` names the Redis topology seen and the config in force."""

    async def details() -> dict[str, object]:
        return {**await topology.details(), "config": live.current.describe()}

    return details


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
    breakers = _breakers(settings, clock, metrics)
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
        gateway=_gateway(settings, clock, metrics, upstream, breakers, redis),
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
    services.metrics_refreshers.append(_poll_breakers(breakers))
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
    server = ProxyServer(
        handler,
        keepalive_timeout=settings.server.keepalive_timeout,
        max_line_size=8190,
        max_field_size=8190,
        max_headers=100,
    )
    proxy_runner = web.ServerRunner(server, shutdown_timeout=settings.server.shutdown_timeout)
    await proxy_runner.setup()
    ssl_ctx = None
    if settings.server.tls_cert and settings.server.tls_key:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(settings.server.tls_cert, settings.server.tls_key)
    listen = settings.server.listen
    await web.TCPSite(
        proxy_runner,
        listen.host,
        listen.port,
        ssl_context=ssl_ctx,
        reuse_port=is_worker(),
    ).start()
    admin_app = build_admin_app(services, admin_routes, _ready_details(topology, live))
    admin_app[LIVE] = live
    admin_app.add_routes(config_routes)
    admin_runner = web.AppRunner(
        admin_app, access_log=None, keepalive_timeout=15, shutdown_timeout=2
    )
    await admin_runner.setup()
    admin = settings.server.admin_listen
    await web.TCPSite(admin_runner, admin.host, admin.port, reuse_port=is_worker()).start()
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
