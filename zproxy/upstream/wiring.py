"""Building the upstream side from the settings: the breaker set and the gateway (retry policy
and budget, the local and fleet-wide concurrency limits).

Part of the upstream layer; called once by ``zproxy.app`` (the composition root).
"""

from __future__ import annotations

from redis.asyncio import Redis

from zproxy.clock import Clock
from zproxy.config.model import Settings
from zproxy.observability.metrics import Metrics
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import BreakerConfig
from zproxy.upstream.client import UpstreamClient
from zproxy.upstream.fleet_limiter import FleetLimiter
from zproxy.upstream.gateway import Gateway
from zproxy.upstream.limiter import ConcurrencyLimiter, LimiterConfig
from zproxy.upstream.retry import RetryBudget, RetryConfig, RetryPolicy


def build_breakers(settings: Settings, clock: Clock, metrics: Metrics) -> BreakerSet:
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


def build_gateway(
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    upstream: UpstreamClient,
    breakers: BreakerSet,
    redis: Redis,
) -> Gateway:
    local = ConcurrencyLimiter(
        LimiterConfig(pools=dict(settings.upstream.pools), max_wait=settings.upstream.pool_wait),
        clock,
        listener=metrics,
    )
    # Zuora caps concurrency per tenant: the pools are shared by every process using this URL.
    scope = f"{settings.upstream.url.host}:{settings.upstream.url.port}"
    limiter = FleetLimiter(local, redis, scope=scope, listener=metrics)
    return Gateway(
        upstream, breakers, limiter, build_retry(settings, clock, metrics), metrics, clock
    )


def build_retry(settings: Settings, clock: Clock, metrics: Metrics) -> RetryPolicy:
    """The retry policy of ``settings`` (built anew for each config a reload brings)."""
    r = settings.retry
    config = RetryConfig(
        max_attempts=r.max_attempts,
        base_delay=r.base_delay,
        max_delay=r.max_delay,
        deadline=r.deadline,
        budget_ratio=r.budget_ratio,
        budget_window=r.budget_window,
        budget_min_retries=r.budget_min_retries,
    )
    return RetryPolicy(config, clock, budget=RetryBudget.from_config(config, clock, metrics))
