"""The config in force, swapped whole on reload: ``SIGHUP`` or ``POST /admin/config/reload``.

A reload re-reads the file and the environment through the same loader as start-up (so it is
validated exactly as ``zproxy check-config`` does), refuses changes that need a restart, builds a
new ``Services`` generation (its own upstream client and gateway; Redis, the cache, the queue,
the breakers and the metrics are shared), and swaps it into the handler in one synchronous
step: a request reads ``handler.s`` and ``handler.routes`` once when it starts, so requests in
flight finish on the old generation and new ones use the new one. The old generation's client
is closed once its requests can no longer be running (its ``total_timeout`` later).

The fleet: the new version (``INCR zproxy:config:version``) is published on
``zproxy:config``; every other process, on this host or another sharing the Redis, reloads its
own file (or rolls back) on the message. After a reload each process watches its own answers
(``RollbackWatch``) and a rise of the failed share rolls every process back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import structlog
from redis.asyncio import Redis

from zproxy.config.model import Settings
from zproxy.config.reload import config_hash, refusal, restart_only_changes
from zproxy.edge.handler import ProxyHandler
from zproxy.edge.rollback_watch import RollbackWatch
from zproxy.edge.services import Services
from zproxy.errors import ConfigError
from zproxy.policy.rollback import Verdict
from zproxy.store.connect import is_cluster, raise_if_cancelled

log = structlog.get_logger("zproxy.config")
CHANNEL = "zproxy:config"
VERSION_KEY = "zproxy:config:version"
Build = Callable[[Settings], Awaitable[Services]]
Load = Callable[[], Settings]


class NothingToRollBack(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Generation:
    services: Services
    version: int
    hash: str

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def describe(self) -> dict[str, object]:
        return {"version": str(self.version), "hash": self.hash}


class LiveConfig:
    def __init__(
        self, handler: ProxyHandler, first: Services, *, load: Load, build: Build, redis: Redis
    ) -> None:
        self._handler = handler
        self._first = first
        self._load = load
        self._build = build
        self._redis = redis
        self._metrics = first.metrics
        self.origin = secrets.token_hex(8)
        self.current = Generation(first, 0, config_hash(first.settings))
        self.previous: Generation | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.watch = RollbackWatch(first.clock, self._verdict)
        self.watch.configure(first.settings)
        first.metrics.observers.append(self.watch)

    async def start(self) -> None:
        try:
            stored = await self._redis.get(VERSION_KEY)
            version = int(stored) if stored else 0
        except Exception as exc:
            log.warning("config_version_unknown", error=type(exc).__name__)
            version = 0
        self.current = Generation(self.current.services, version, self.current.hash)
        self._declare(self.current)
        self._spawn(self._subscribe_loop(), "zproxy-config-sync")

    async def stop(self) -> None:
        await self.watch.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.current.services is not self._first:
            await self.current.services.upstream.close()

    # --- reload and rollback -----------------------------------------------------------------
    async def reload(self, *, version: int | None = None) -> Generation:
        """Load, validate, swap. ``ConfigError`` (the running config stays) when the new one is
        invalid or changes a restart-only setting. ``version``: adopt the fleet's (a message)."""
        async with self._lock:
            try:
                settings = self._load()
                changed = restart_only_changes(self.current.settings, settings)
                if changed:
                    raise ConfigError(refusal(changed))
            except ConfigError as exc:
                log.error("config_reload_refused", problems=exc.problems, kept=self.current.hash)
                self._metrics.change.on_reload("refused")
                raise
            published = version is None
            if version is None:
                version = await self._next_version()
            old = self.current
            new = await self._install(settings, version)
            self.previous = old
            self._metrics.change.on_reload("applied")
            log.info("config_reloaded", **new.describe(), previous=old.hash)
            self.watch.arm()
        if published:
            await self._publish("reload", version)
        return new

    async def rollback(self, *, verdict: Verdict | None = None, fleet: bool = True) -> Generation:
        """Restore the config in force before the last reload (``NothingToRollBack`` if none)."""
        async with self._lock:
            previous, undone = self.previous, self.current
            if previous is None:
                raise NothingToRollBack
            self.watch.disarm()
            restored = await self._install(previous.settings, previous.version)
            self.previous = None
            self._metrics.change.on_reload("rolled_back")
            if verdict is not None:
                self._metrics.change.on_rollback()
                log.error(
                    "config_rolled_back",
                    reason="failed share of requests rose after the reload",
                    failed_before=round(verdict.before.rate, 4),
                    failed_after=round(verdict.after.rate, 4),
                    requests_before=verdict.before.requests,
                    requests_after=verdict.after.requests,
                    undone=undone.describe(),
                    restored=restored.describe(),
                )
            else:
                log.warning("config_rolled_back", undone=undone.describe(), **restored.describe())
        if fleet:
            await self._publish("rollback", restored.version, undone=undone.version)
        return restored

    async def _verdict(self, verdict: Verdict) -> None:
        if verdict.action == "rollback":
            with contextlib.suppress(NothingToRollBack):
                await self.rollback(verdict=verdict)

    async def _install(self, settings: Settings, version: int) -> Generation:
        services = await self._build(settings)
        new = Generation(services, version, config_hash(settings))
        old, self.current = self.current, new
        # One synchronous step: a request picks both up together when it starts.
        self._handler.s = services
        self._handler.routes = settings.routes
        self.watch.configure(settings)
        self._declare(new)
        if old.services is not self._first:
            self._spawn(self._retire(old), "zproxy-config-retire")
        return new

    async def _retire(self, old: Generation) -> None:
        upstream = old.settings.upstream
        await asyncio.sleep(upstream.total_timeout + upstream.connect_timeout + 1)
        await old.services.upstream.close()

    def _declare(self, generation: Generation) -> None:
        routes = generation.settings.routes.routes
        self._metrics.declare_routes(r.name for r in routes)
        self._metrics.change.declare_journeys(r.journey for r in routes)
        self._metrics.change.on_config(str(generation.version), generation.hash)

    # --- the fleet ---------------------------------------------------------------------------
    async def _next_version(self) -> int:
        try:
            return int(await self._redis.incr(VERSION_KEY))
        except Exception as exc:
            log.warning("config_version_not_shared", error=type(exc).__name__)
            return self.current.version + 1

    async def _publish(
        self, action: Literal["reload", "rollback"], version: int, **extra: int
    ) -> None:
        message = orjson.dumps(
            {"origin": self.origin, "action": action, "version": version, **extra}
        )
        try:
            if is_cluster(self._redis):
                await self._redis.spublish(CHANNEL, message)
            else:
                await self._redis.publish(CHANNEL, message)
        except Exception as exc:
            log.error("config_publish_failed", action=action, error=type(exc).__name__)

    async def _subscribe_loop(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("config_sync_failed", error=type(exc).__name__, retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _listen(self) -> None:
        cluster = is_cluster(self._redis)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            if cluster:
                await pubsub.ssubscribe(CHANNEL)
            else:
                await pubsub.subscribe(CHANNEL)
            while True:
                if cluster:
                    message = await pubsub.get_sharded_message(  # type: ignore[attr-defined]
                        ignore_subscribe_messages=True, timeout=1.0
                    )
                else:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                raise_if_cancelled()
                if message is not None and message.get("type") in ("message", "smessage"):
                    await self._on_message(message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _on_message(self, data: Any) -> None:
        try:
            body = orjson.loads(data)
            action, version = body["action"], int(body["version"])
            origin = body["origin"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("config_sync_bad_message")
            return
        if origin == self.origin:
            return
        if action == "reload" and version != self.current.version:
            with contextlib.suppress(ConfigError):
                await self.reload(version=version)
        elif (
            action == "rollback"
            and self.previous is not None
            and body.get("undone") == self.current.version
        ):
            await self.rollback(fleet=False)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
