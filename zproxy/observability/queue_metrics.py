"""The write queue's and Redis' metrics: queue depth and age, dead letters, queued write
outcomes, durability, Redis errors and topology.

Part of observability: ``Metrics`` (``observability.metrics``) inherits these families and
their listener methods and registers them in its own registry; nothing else builds one.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class QueueMetrics:
    def __init__(self, r: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            "zproxy_write_queue_depth",
            "Writes waiting to be replayed",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.queue_oldest = Gauge(
            "zproxy_write_queue_oldest_age_seconds",
            "Age of the oldest queued write",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.queue_dead = Gauge(
            "zproxy_write_queue_dead",
            "Dead-lettered writes",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.writes = Counter(
            "zproxy_writes", "Queued write outcomes", ["route", "result"], registry=r
        )
        self.writes_refused = Counter(
            "zproxy_writes_refused",
            "Queueable writes answered 503 because Redis could not confirm durability",
            ["route"],
            registry=r,
        )
        self.write_durable = Gauge(
            "zproxy_write_durable",
            "1 when Redis confirms durability and queueing is allowed",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.redis_errors = Counter(
            "zproxy_redis_errors", "Redis operations that failed", ["op"], registry=r
        )
        self.redis_topology = Gauge(
            "zproxy_redis_topology_info",
            "The Redis topology zproxy sees: 1 on the current mode and primary address(es)",
            ["mode", "primary"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.redis_replicas = Gauge(
            "zproxy_redis_replicas_connected",
            "Replicas in sync with the primary (a Cluster: the fewest over its primaries)",
            registry=r,
            multiprocess_mode="livemin",
        )

    def on_write(self, route: str, result: str) -> None:
        """``result``: queued | applied | retried | dead (CONTRACT §4)."""
        self.writes.labels(route, result).inc()

    def on_write_refused(self, route: str) -> None:
        self.writes_refused.labels(route).inc()

    def on_queue_stats(self, depth: int, oldest_age: float, dead: int) -> None:
        self.queue_depth.set(depth)
        self.queue_oldest.set(oldest_age)
        self.queue_dead.set(dead)

    def on_durability(self, durable: bool) -> None:
        self.write_durable.set(1 if durable else 0)

    def on_redis_topology(self, mode: str, primary: str, replicas: int) -> None:
        """The topology seen now; the previous primary's series is dropped."""
        self.redis_topology.clear()
        self.redis_topology.labels(mode, primary).set(1)
        self.redis_replicas.set(replicas)

    def on_redis_error(self, op: str) -> None:
        self.redis_errors.labels(op).inc()
