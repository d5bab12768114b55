"""Turn the raw settings mapping into the frozen ``Settings`` tree, collecting every problem.

Each problem names where the bad value came from: the file and key path, or the environment
variable or flag that set it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from yarl import URL

from zproxy.config.model import (
    BreakerSettings,
    CacheSettings,
    LogSettings,
    QueueSettings,
    RedisSettings,
    RetrySettings,
    RollbackSettings,
    ServerSettings,
    Settings,
    UpstreamSettings,
)
from zproxy.config.reader import Reader
from zproxy.config.redis_url import parse_redis_url
from zproxy.config.rollback import parse_rollback
from zproxy.config.routes import parse_routes
from zproxy.errors import ConfigError

T = TypeVar("T")


def parse_settings(raw: Mapping[str, Any], origin: str, origins: Mapping[str, str]) -> Settings:
    r = Reader(origin, origins)
    known = {f.name for f in fields(Settings)} | {"log", "redis"}
    for key in raw:
        if key not in known:
            r.fail(str(key), "unknown setting")
    settings = Settings(
        upstream=_upstream(r, r.section(raw, "upstream", UpstreamSettings)),
        server=_server(r, r.section(raw, "server", ServerSettings)),
        redis=_redis(r, r.section(raw, "redis", RedisSettings)),
        cache=_cache(r, r.section(raw, "cache", CacheSettings)),
        breakers=_breakers(r, r.section(raw, "breakers")),
        retry=_retry(r, r.section(raw, "retry", RetrySettings)),
        queue=_queue(r, r.section(raw, "queue", QueueSettings)),
        log=LogSettings(
            format=r.string(
                r.section(raw, "log", LogSettings), "log", "format", "json", ("json", "console")
            ),
            level=r.string(
                r.section(raw, "log"), "log", "level", "info", ("debug", "info", "warning", "error")
            ),
        ),
        rollback=parse_rollback(r, r.section(raw, "rollback", RollbackSettings)),
        data_dir=Path(r.string(raw, "", "data_dir", "./var")),
        admin_token=r.string(raw, "", "admin_token", None) or None,
        routes=parse_routes(r, raw.get("routes") or []),
    )
    for route in settings.routes.routes:
        if route.breaker and route.breaker not in settings.breakers:
            # A group named only by a route gets the default thresholds.
            settings.breakers[route.breaker] = settings.breakers["reads"]  # type: ignore[index]
        if route.pool not in settings.upstream.pools:
            r.fail(f"routes.{route.name}.pool", f"no pool {route.pool!r} under upstream.pools")
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _upstream(r: Reader, raw: Mapping[str, Any]) -> UpstreamSettings:
    d = UpstreamSettings()
    url_text = r.string(raw, "upstream", "url", str(d.url))
    url = URL(url_text)
    if (
        url.scheme not in ("http", "https")
        or not url.host
        or url.query_string
        or url.fragment
        or url.user is not None
        or url.password is not None
    ):
        # No userinfo: credentials come from the clients, and the URL is logged.
        shown = str(url.with_user(None)) if url.host else url_text
        r.fail(
            "upstream.url",
            f"must be an http(s) URL with a host and no user, query or fragment (got {shown!r})",
        )
        url = d.url
    pools_raw = raw.get("pools") or dict(d.pools)
    pools: dict[str, int] = {}
    if not isinstance(pools_raw, dict):
        r.fail("upstream.pools", "must be a mapping of pool name to in-flight limit")
    else:
        for name, _ in pools_raw.items():
            pools[str(name)] = r.number(
                pools_raw, "upstream.pools", name, 1, minimum=1, integer=True
            )
        pools.setdefault("default", 40)
    return UpstreamSettings(
        url=url.with_path(url.path.rstrip("/")),
        connect_timeout=r.number(raw, "upstream", "connect_timeout", d.connect_timeout, above=True),
        read_timeout=r.number(raw, "upstream", "read_timeout", d.read_timeout, above=True),
        total_timeout=r.number(raw, "upstream", "total_timeout", d.total_timeout, above=True),
        max_body_bytes=r.number(
            raw, "upstream", "max_body_bytes", d.max_body_bytes, minimum=1, integer=True
        ),
        ca_bundle=_existing_file(r, raw, "upstream", "ca_bundle"),
        pools=pools,
        pool_wait=r.number(raw, "upstream", "pool_wait", d.pool_wait),
    )


def _existing_file(r: Reader, raw: Mapping[str, Any], path: str, key: str) -> str | None:
    value: str | None = r.string(raw, path, key, None)
    if value and not Path(value).is_file():
        r.fail(f"{path}.{key}", f"no such file {value!r}")
        return None
    return value


def _server(r: Reader, raw: Mapping[str, Any]) -> ServerSettings:
    d = ServerSettings()
    s = ServerSettings(
        listen=r.host_port(raw, "server", "listen", d.listen),
        admin_listen=r.host_port(raw, "server", "admin_listen", d.admin_listen),
        max_request_body=r.number(
            raw, "server", "max_request_body", d.max_request_body, minimum=1, integer=True
        ),
        keepalive_timeout=r.number(
            raw, "server", "keepalive_timeout", d.keepalive_timeout, above=True
        ),
        body_read_timeout=r.number(
            raw, "server", "body_read_timeout", d.body_read_timeout, above=True
        ),
        body_total_timeout=r.number(
            raw, "server", "body_total_timeout", d.body_total_timeout, above=True
        ),
        shutdown_timeout=r.number(raw, "server", "shutdown_timeout", d.shutdown_timeout),
        tls_cert=r.string(raw, "server", "tls_cert", None),
        tls_key=r.string(raw, "server", "tls_key", None),
        workers=r.number(raw, "server", "workers", 1, minimum=1, integer=True),
        record=r.string(raw, "server", "record", None),
    )
    if bool(s.tls_cert) != bool(s.tls_key):
        r.fail("server.tls_cert", "tls_cert and tls_key go together")
    for key in ("tls_cert", "tls_key"):
        value = getattr(s, key)
        if value and not Path(value).is_file():
            r.fail(f"server.{key}", f"no such file {value!r}")
    if s.tls_cert and s.tls_key and Path(s.tls_cert).is_file() and Path(s.tls_key).is_file():
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                s.tls_cert, s.tls_key
            )
        except (ssl.SSLError, OSError) as exc:
            r.fail("server.tls_cert", f"certificate and key do not load ({exc.__class__.__name__})")
    return s


def _redis(r: Reader, raw: Mapping[str, Any]) -> RedisSettings:
    url = r.string(raw, "redis", "url", "embedded")
    try:
        parse_redis_url(url)
    except ValueError as exc:
        r.fail("redis.url", str(exc))
    return RedisSettings(
        url=url, socket_timeout=r.number(raw, "redis", "socket_timeout", 2.0, above=True)
    )


def _cache(r: Reader, raw: Mapping[str, Any]) -> CacheSettings:
    d = CacheSettings()
    secret = r.string(raw, "cache", "secret", None)
    if secret is not None and len(secret.encode()) < 16:
        r.fail("cache.secret", "must be at least 16 bytes (it keys the identity hashes)")
    return CacheSettings(
        secret=secret,
        callout_secret=r.string(raw, "cache", "callout_secret", None),
        max_entry_bytes=r.number(
            raw, "cache", "max_entry_bytes", d.max_entry_bytes, minimum=1, integer=True
        ),
        lock_ms=r.number(raw, "cache", "lock_ms", d.lock_ms, minimum=1, integer=True),
        stale_if_slow=r.number(raw, "cache", "stale_if_slow", d.stale_if_slow),
    )


def _breakers(r: Reader, raw: Mapping[str, Any]) -> dict[str, BreakerSettings]:
    d = BreakerSettings()
    out: dict[str, BreakerSettings] = {}
    defaults = raw.get("defaults") or {}
    for name in ["reads", "writes", *[k for k in raw if k not in ("reads", "writes", "defaults")]]:
        group = {**defaults, **(raw.get(name) or {})}
        p = f"breakers.{name}"
        r.only_known(group, p, {f.name for f in fields(BreakerSettings)})
        out[name] = BreakerSettings(
            fail_max=r.number(group, p, "fail_max", d.fail_max, minimum=1, integer=True),
            failure_ratio=r.number(group, p, "failure_ratio", d.failure_ratio, above=True),
            window=r.number(group, p, "window", d.window, above=True),
            min_volume=r.number(group, p, "min_volume", d.min_volume, minimum=1, integer=True),
            reset_timeout=r.number(group, p, "reset_timeout", d.reset_timeout, above=True),
            half_open_probes=r.number(
                group, p, "half_open_probes", d.half_open_probes, minimum=1, integer=True
            ),
            probe_timeout=r.number(group, p, "probe_timeout", d.probe_timeout, above=True),
        )
        if out[name].failure_ratio > 1:
            r.fail(f"{p}.failure_ratio", "must be at most 1")
    return out


def _retry(r: Reader, raw: Mapping[str, Any]) -> RetrySettings:
    d = RetrySettings()
    return RetrySettings(
        max_attempts=r.number(
            raw, "retry", "max_attempts", d.max_attempts, minimum=1, integer=True
        ),
        base_delay=r.number(raw, "retry", "base_delay", d.base_delay),
        max_delay=r.number(raw, "retry", "max_delay", d.max_delay),
        deadline=r.number(raw, "retry", "deadline", d.deadline),
        budget_ratio=r.number(raw, "retry", "budget_ratio", d.budget_ratio),
        budget_window=r.number(raw, "retry", "budget_window", d.budget_window, above=True),
        budget_min_retries=r.number(
            raw, "retry", "budget_min_retries", d.budget_min_retries, integer=True
        ),
    )


def _queue(r: Reader, raw: Mapping[str, Any]) -> QueueSettings:
    d = QueueSettings()
    return QueueSettings(
        encryption_key=r.string(raw, "queue", "encryption_key", None),
        max_age=r.number(raw, "queue", "max_age", d.max_age, above=True),
        durability_timeout_ms=r.number(
            raw, "queue", "durability_timeout_ms", d.durability_timeout_ms, minimum=1, integer=True
        ),
        durability=r.string(
            raw, "queue", "durability", d.durability, choices=("local", "replicated")
        ),
        partitions=r.number(raw, "queue", "partitions", d.partitions, minimum=1, integer=True),
        replay_concurrency=r.number(
            raw, "queue", "replay_concurrency", d.replay_concurrency, minimum=1, integer=True
        ),
        lease_seconds=r.number(raw, "queue", "lease_seconds", d.lease_seconds, above=True),
    )
