"""The collaborators one running zproxy shares, built once by ``zproxy.app`` (the composition
root) and handed to the edges. Nothing here creates anything: it only holds references."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from zproxy.clock import Clock
from zproxy.config import Settings
from zproxy.observability.metrics import Metrics
from zproxy.upstream.client import UpstreamClient


@dataclass(slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    clock: Clock
    upstream: UpstreamClient
    redis: Redis | None = None
    #: Async checks returning a reason when zproxy is not ready (for /readyz).
    readiness_checks: list[Callable[[], Awaitable[str | None]]] = field(default_factory=list)
    #: Called before /metrics renders, to refresh gauges read from Redis.
    metrics_refreshers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
