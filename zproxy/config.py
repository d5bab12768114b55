"""Settings: one frozen, validated tree, loaded once.

Precedence: the YAML file (``config/zproxy.yaml``), then ``ZPROXY_*`` environment variables,
then command-line flags. Every problem is reported with its location; any problem stops
start-up (exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yarl import URL

from zproxy.errors import ConfigError
from zproxy.policy.routes import ReadPolicy, Route, RouteTable, WritePolicy

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: Environment variable -> dotted setting.
ENV_VARS: Mapping[str, str] = {
    "ZPROXY_UPSTREAM_URL": "upstream.url",
    "ZPROXY_LISTEN": "server.listen",
    "ZPROXY_ADMIN_LISTEN": "server.admin_listen",
    "ZPROXY_REDIS_URL": "redis.url",
    "ZPROXY_DATA_DIR": "data_dir",
    "ZPROXY_ADMIN_TOKEN": "admin_token",
    "ZPROXY_LOG_FORMAT": "log.format",
    "ZPROXY_LOG_LEVEL": "log.level",
    "ZPROXY_CACHE_SECRET": "cache.secret",
    "ZPROXY_CALLOUT_SECRET": "cache.callout_secret",
    "ZPROXY_QUEUE_KEY": "queue.encryption_key",
    "ZPROXY_CA_BUNDLE": "upstream.ca_bundle",
    "ZPROXY_TLS_CERT": "server.tls_cert",
    "ZPROXY_TLS_KEY": "server.tls_key",
    "ZPROXY_WORKERS": "server.workers",
}


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    url: URL = URL("https://rest.zuora.com")  # noqa: RUF009 - URL is immutable
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    total_timeout: float = 60.0
    max_body_bytes: int = 50 * 1024 * 1024
    ca_bundle: str | None = None
    #: In-flight limit per pool toward Zuora.
    pools: Mapping[str, int] = field(default_factory=lambda: {"default": 40, "zoql": 20})
    pool_wait: float = 1.0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    listen: HostPort = HostPort("127.0.0.1", 8080)
    admin_listen: HostPort = HostPort("127.0.0.1", 9090)
    max_request_body: int = 10 * 1024 * 1024
    keepalive_timeout: float = 15.0
    body_read_timeout: float = 30.0
    shutdown_timeout: float = 10.0
    tls_cert: str | None = None
    tls_key: str | None = None
    workers: int = 1


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = "embedded"
    socket_timeout: float = 2.0


@dataclass(frozen=True, slots=True)
class CacheSettings:
    secret: str | None = None
    callout_secret: str | None = None
    max_entry_bytes: int = 2 * 1024 * 1024
    lock_ms: int = 5000


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    fail_max: int = 5
    failure_ratio: float = 0.5
    window: float = 10.0
    min_volume: int = 10
    reset_timeout: float = 10.0
    half_open_probes: int = 1
    probe_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class RetrySettings:
    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 1.0
    deadline: float = 2.0
    budget_ratio: float = 0.2
    budget_window: float = 10.0
    budget_min_retries: int = 3


@dataclass(frozen=True, slots=True)
class QueueSettings:
    encryption_key: str | None = None
    max_age: float = 20 * 3600.0
    durability_timeout_ms: int = 1500
    replay_concurrency: int = 8
    lease_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class LogSettings:
    format: str = "json"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class Settings:
    upstream: UpstreamSettings = UpstreamSettings()
    server: ServerSettings = ServerSettings()
    redis: RedisSettings = RedisSettings()
    cache: CacheSettings = CacheSettings()
    breakers: Mapping[str, BreakerSettings] = field(
        default_factory=lambda: {"reads": BreakerSettings(), "writes": BreakerSettings()}
    )
    retry: RetrySettings = RetrySettings()
    queue: QueueSettings = QueueSettings()
    log: LogSettings = LogSettings()
    data_dir: Path = Path("./var")
    admin_token: str | None = None
    routes: RouteTable = field(default_factory=lambda: RouteTable(()))


def default_config_path() -> Path | None:
    """``$ZPROXY_CONFIG``, else ``./config/zproxy.yaml``, else the one beside the package."""
    env = os.environ.get("ZPROXY_CONFIG")
    if env:
        return Path(env)
    for candidate in (
        Path("config/zproxy.yaml"),
        Path(__file__).resolve().parent.parent / "config" / "zproxy.yaml",
    ):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load file -> env -> overrides (dotted keys); raise ConfigError listing every problem."""
    raw, origin = _read_file(path if path is not None else default_config_path())
    origins: dict[str, str] = {}
    for name, dotted in ENV_VARS.items():
        value = (os.environ if env is None else env).get(name)
        if value is not None and value != "":
            _set_dotted(raw, dotted, value)
            origins[dotted] = name
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value)
            origins[dotted] = "--" + dotted.rsplit(".", 1)[-1].replace("_", "-")
    from zproxy.settings_parse import parse_settings

    return parse_settings(raw, origin, origins)


def _read_file(path: Path | None) -> tuple[dict[str, Any], str]:
    if path is None:
        return {}, "defaults"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if data is None:
        return {}, str(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping"])
    return data, str(path)


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


__all__ = [
    "HTTP_METHODS",
    "BreakerSettings",
    "CacheSettings",
    "HostPort",
    "LogSettings",
    "QueueSettings",
    "ReadPolicy",
    "RedisSettings",
    "RetrySettings",
    "Route",
    "ServerSettings",
    "Settings",
    "UpstreamSettings",
    "WritePolicy",
    "load_settings",
]
