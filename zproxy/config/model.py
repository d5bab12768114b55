"""The settings model: one frozen tree of plain dataclasses. It imports nothing else of
``zproxy.config``; ``zproxy.config.load`` builds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from zproxy.policy.routes import RouteTable

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
    #: The whole request body must have arrived within this (``body_read_timeout`` bounds
    #: each gap between reads).
    body_total_timeout: float = 120.0
    shutdown_timeout: float = 10.0
    tls_cert: str | None = None
    tls_key: str | None = None
    workers: int = 1
    #: ``--record FILE``: a sanitized traffic recording (``edge.recorder``); None: off.
    record: str | None = None


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
    #: Seconds a read of a stale entry (inside its stale-if-error window) waits for Zuora before
    #: the entry answers and the fetch finishes in the background; 0 waits for Zuora.
    stale_if_slow: float = 2.0


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
    #: ``local``: fsync on the primary; ``replicated``: also acknowledged by >= 1 replica.
    durability: str = "local"
    #: Streams the queue is split into by order key (spread over a Cluster's primaries).
    partitions: int = 8
    replay_concurrency: int = 8
    lease_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class LogSettings:
    format: str = "json"
    level: str = "info"


@dataclass(frozen=True, slots=True)
class RollbackSettings:
    """After a config reload: watch ``window`` seconds; roll back when the share of failed
    requests rose by more than ``error_rate`` (absolute) over at least ``min_requests``."""

    window: float = 300.0
    error_rate: float = 0.02
    min_requests: int = 20
    #: Only these journeys' requests count (empty: every request).
    journeys: tuple[str, ...] = ()


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
    rollback: RollbackSettings = RollbackSettings()
    data_dir: Path = Path("./var")
    admin_token: str | None = None
    routes: RouteTable = field(default_factory=lambda: RouteTable(()))
