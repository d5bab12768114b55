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

from zproxy.config import (
    HTTP_METHODS,
    BreakerSettings,
    CacheSettings,
    HostPort,
    LogSettings,
    QueueSettings,
    RedisSettings,
    RetrySettings,
    ServerSettings,
    Settings,
    UpstreamSettings,
)
from zproxy.errors import ConfigError
from zproxy.policy.routes import ReadPolicy, Route, RouteTable, WritePolicy, template_fields

T = TypeVar("T")


class _Reader:
    def __init__(self, origin: str, origins: Mapping[str, str]) -> None:
        self.origin = origin
        self.origins = origins
        self.problems: list[str] = []

    def where(self, path: str) -> str:
        return self.origins.get(path) or f"{self.origin}: {path}"

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where(path)}: {message}")

    def section(
        self, raw: Mapping[str, Any], name: str, known: type | None = None
    ) -> Mapping[str, Any]:
        """``raw[name]`` as a mapping; with ``known`` (a settings dataclass), a key that is not
        one of its fields is reported, so a typo never passes silently."""
        value = raw.get(name, {})
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(name, "must be a mapping")
            return {}
        if known is not None:
            self.only_known(value, name, {f.name for f in fields(known)})
        return value

    def only_known(self, raw: Mapping[str, Any], path: str, allowed: set[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.fail(f"{path}.{key}", "unknown setting")

    def number(
        self,
        raw: Mapping[str, Any],
        path: str,
        key: str,
        default: float,
        *,
        minimum: float = 0.0,
        integer: bool = False,
        above: bool = False,
    ) -> Any:
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        full = f"{path}.{key}" if path else key
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if integer else float(value)
            if integer and isinstance(value, float) and not value.is_integer():
                raise ValueError
        except (TypeError, ValueError):
            self.fail(full, f"must be a {'whole ' if integer else ''}number (got {value!r})")
            return default
        if number < minimum or (above and number <= minimum):
            self.fail(full, f"must be {'>' if above else '>='} {minimum} (got {value!r})")
            return default
        return number

    def string(
        self,
        raw: Mapping[str, Any],
        path: str,
        key: str,
        default: str | None,
        choices: tuple[str, ...] | None = None,
    ) -> Any:
        if key not in raw or raw[key] is None:
            return default
        value = raw[key]
        full = f"{path}.{key}" if path else key
        if not isinstance(value, str):
            self.fail(full, f"must be a string (got {value!r})")
            return default
        if choices and value not in choices:
            self.fail(full, f"must be one of {', '.join(choices)} (got {value!r})")
            return default
        return value

    def boolean(self, raw: Mapping[str, Any], path: str, key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            self.fail(f"{path}.{key}", f"must be true or false (got {value!r})")
            return default
        return value

    def host_port(self, raw: Mapping[str, Any], path: str, key: str, default: HostPort) -> HostPort:
        value = raw.get(key)
        if value is None:
            return default
        text = str(value)
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            self.fail(f"{path}.{key}", f"must be HOST:PORT (got {text!r})")
            return default
        return HostPort(host.strip("[]"), int(port))


def parse_settings(raw: Mapping[str, Any], origin: str, origins: Mapping[str, str]) -> Settings:
    r = _Reader(origin, origins)
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
        data_dir=Path(r.string(raw, "", "data_dir", "./var")),
        admin_token=r.string(raw, "", "admin_token", None) or None,
        routes=_routes(r, raw.get("routes") or []),
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


def _upstream(r: _Reader, raw: Mapping[str, Any]) -> UpstreamSettings:
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


def _existing_file(r: _Reader, raw: Mapping[str, Any], path: str, key: str) -> str | None:
    value: str | None = r.string(raw, path, key, None)
    if value and not Path(value).is_file():
        r.fail(f"{path}.{key}", f"no such file {value!r}")
        return None
    return value


def _server(r: _Reader, raw: Mapping[str, Any]) -> ServerSettings:
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
        shutdown_timeout=r.number(raw, "server", "shutdown_timeout", d.shutdown_timeout),
        tls_cert=r.string(raw, "server", "tls_cert", None),
        tls_key=r.string(raw, "server", "tls_key", None),
        workers=r.number(raw, "server", "workers", 1, minimum=1, integer=True),
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


def _redis(r: _Reader, raw: Mapping[str, Any]) -> RedisSettings:
    url = r.string(raw, "redis", "url", "embedded")
    if url != "embedded" and not url.startswith(("redis://", "rediss://", "unix://")):
        r.fail(
            "redis.url", f"must be 'embedded' or a redis://, rediss:// or unix:// URL (got {url!r})"
        )
    return RedisSettings(
        url=url, socket_timeout=r.number(raw, "redis", "socket_timeout", 2.0, above=True)
    )


def _cache(r: _Reader, raw: Mapping[str, Any]) -> CacheSettings:
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
    )


def _breakers(r: _Reader, raw: Mapping[str, Any]) -> dict[str, BreakerSettings]:
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


def _retry(r: _Reader, raw: Mapping[str, Any]) -> RetrySettings:
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


def _queue(r: _Reader, raw: Mapping[str, Any]) -> QueueSettings:
    d = QueueSettings()
    return QueueSettings(
        encryption_key=r.string(raw, "queue", "encryption_key", None),
        max_age=r.number(raw, "queue", "max_age", d.max_age, above=True),
        durability_timeout_ms=r.number(
            raw, "queue", "durability_timeout_ms", d.durability_timeout_ms, minimum=1, integer=True
        ),
        replay_concurrency=r.number(
            raw, "queue", "replay_concurrency", d.replay_concurrency, minimum=1, integer=True
        ),
        lease_seconds=r.number(raw, "queue", "lease_seconds", d.lease_seconds, above=True),
    )


def _routes(r: _Reader, raw: Any) -> RouteTable:
    if not isinstance(raw, list):
        r.fail("routes", "must be a list of routes")
        return RouteTable(())
    routes: list[Route] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        route = _route(r, f"routes[{i}]", item, seen)
        if route is not None:
            routes.append(route)
    return RouteTable(routes)


def _route(r: _Reader, p: str, item: Any, seen: set[str]) -> Route | None:
    if not isinstance(item, dict):
        r.fail(p, "must be a mapping")
        return None
    ok = len(r.problems)
    unknown = set(item) - {"name", "methods", "path", "read", "write", "breaker", "pool"}
    for key in sorted(unknown):
        r.fail(f"{p}.{key}", "unknown route setting")
    name = r.string(item, p, "name", None)
    if not name:
        r.fail(f"{p}.name", "required")
    elif name in seen:
        r.fail(f"{p}.name", f"duplicate route name {name!r}")
    seen.add(name or "")
    methods = item.get("methods")
    if (
        not isinstance(methods, list)
        or not methods
        or not all(isinstance(m, str) and m.upper() in HTTP_METHODS for m in methods)
    ):
        r.fail(f"{p}.methods", f"must be a list of HTTP methods (got {methods!r})")
        methods = []
    path = r.string(item, p, "path", None)
    if not path or not path.startswith("/"):
        r.fail(f"{p}.path", f"must start with '/' (got {path!r})")
    params = set(template_fields(path or ""))
    params = {x.rstrip("*") for x in params}
    read = _read_policy(r, f"{p}.read", item.get("read")) if "read" in item else None
    write = _write_policy(r, f"{p}.write", item.get("write"), params) if "write" in item else None
    if read is not None and write is not None:
        r.fail(p, "a route is either read or write, not both")
    if read is not None:
        for tag in read.tags:
            for f in template_fields(tag):
                if f not in params:
                    r.fail(f"{p}.read.tags", f"{{{f}}} is not a path parameter of {path}")
    if len(r.problems) > ok:
        return None
    return Route(
        name=name,
        methods=frozenset(m.upper() for m in methods),
        path=path,
        read=read,
        write=write,
        breaker=r.string(item, p, "breaker", None),
        pool=r.string(item, p, "pool", "default"),
    )


def _read_policy(r: _Reader, p: str, raw: Any) -> ReadPolicy | None:
    if not isinstance(raw, dict):
        r.fail(p, "must be a mapping")
        return None
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        r.fail(f"{p}.tags", "must be a list of strings")
        tags = []
    return ReadPolicy(
        fresh=r.number(raw, p, "fresh", 60.0),
        stale_while_revalidate=r.number(raw, p, "stale_while_revalidate", 0.0),
        stale_if_error=r.number(raw, p, "stale_if_error", 0.0),
        tags=tuple(tags),
        body_keyed=r.boolean(raw, p, "body_keyed", False),
        retry=r.boolean(raw, p, "retry", True),
    )


def _write_policy(r: _Reader, p: str, raw: Any, params: set[str]) -> WritePolicy | None:
    if not isinstance(raw, dict):
        r.fail(p, "must be a mapping")
        return None
    inval = raw.get("invalidates") or []
    if not isinstance(inval, list) or not all(isinstance(t, str) for t in inval):
        r.fail(f"{p}.invalidates", "must be a list of strings")
        inval = []
    order_key = r.string(raw, p, "order_key", None)
    for template in [*inval, *([order_key] if order_key else [])]:
        for f in template_fields(template):
            if not f.startswith(("body.", "response.")) and f not in params:
                r.fail(
                    p, f"{{{f}}} in {template!r} is neither a path parameter, body.* nor response.*"
                )
    if order_key and "{response." in order_key:
        r.fail(f"{p}.order_key", "cannot use response fields (a queued write has no response)")
    return WritePolicy(
        on_outage=r.string(raw, p, "on_outage", "reject", ("queue", "reject")),
        queue_requires_prefer=r.boolean(raw, p, "queue_requires_prefer", False),
        order_key=order_key,
        invalidates=tuple(inval),
    )
