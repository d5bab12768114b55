"""Every metric zproxy exports, in one registry owned by the app (no module globals).

Components report through the listener methods below (the write queue's and Redis' in
``observability.queue_metrics``, a base class). Labels carry route names from the
config, never ids, accounts or credentials.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from zproxy import __version__
from zproxy.observability.change import SUCCESS_FALSE, ChangeMetrics, RequestObserver
from zproxy.observability.queue_metrics import QueueMetrics

BREAKER_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}
#: The upstream time of the request being handled: the edge sets a fresh one-element list per
#: request (its task's own context), ``on_upstream`` adds to it, the request log reads it.
UPSTREAM_SECONDS: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "zproxy_upstream_seconds", default=None
)
#: ``zproxy_cache_total`` results and ``zproxy_writes_total`` results (CONTRACT §4).
CACHE_RESULTS = ("hit", "miss", "stale", "stale_if_error", "bypass", "revalidated")
WRITE_RESULTS = ("queued", "applied", "retried", "dead")


class _WriteShape(Protocol):
    @property
    def on_outage(self) -> str: ...


class RouteShape(Protocol):
    """What ``declare_routes`` reads of a configured route (``policy.routes.Route``)."""

    @property
    def name(self) -> str: ...

    @property
    def read(self) -> object | None: ...

    @property
    def write(self) -> _WriteShape | None: ...


_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Client-facing latency: a cache hit answers in about a millisecond.
_REQUEST_BUCKETS = (0.001, 0.0025, *_BUCKETS)


class Metrics(QueueMetrics):
    def __init__(self) -> None:
        # No ``*_created`` series: they doubled the series count and no dashboard reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...
        ProcessCollector(registry=r)
        self.build_info = Gauge(
            "zproxy_build_info",
            "Always 1; the running zproxy's version in the label",
            ["version"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.build_info.labels(__version__).set(1)
        self.requests = Counter(
            "zproxy_requests",
            "Requests answered on the proxy port",
            ["route", "method", "status"],
            registry=r,
        )
        self.cache = Counter(
            "zproxy_cache", "Cache results on cacheable routes", ["route", "result"], registry=r
        )
        self.upstream_requests = Counter(
            "zproxy_upstream_requests", "Requests sent to Zuora", ["route", "outcome"], registry=r
        )
        self.request_duration = Histogram(
            "zproxy_request_duration_seconds",
            "Time to answer a client on the proxy port, from its request to the answer",
            ["route"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "zproxy_upstream_errors",
            "Calls to Zuora that failed without a proper answer, by cause "
            "(dns, refused, timeout, reset, tls, protocol, other)",
            ["route", "cause"],
            registry=r,
        )
        self.upstream_duration = Histogram(
            "zproxy_upstream_duration_seconds",
            "Time to Zuora's response headers",
            ["route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.breaker_state = Gauge(
            "zproxy_breaker_state",
            "Worst breaker state: 0 closed, 1 half-open, 2 open",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.breaker_group_state = Gauge(
            "zproxy_breaker_group_state",
            "Breaker state per route group (0, 1, 2)",
            ["group"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.breaker_transitions = Counter(
            "zproxy_breaker_transitions", "Breaker state changes", ["to"], registry=r
        )
        self._group_states: dict[str, int] = {}
        self.retries = Counter(
            "zproxy_retries", "Upstream retries of safe requests", ["result"], registry=r
        )
        self.limiter = Counter(
            "zproxy_limiter", "Upstream concurrency limiter events", ["pool", "event"], registry=r
        )
        # Between the limiter's and success-false's, as always (the exposition's order).
        QueueMetrics.__init__(self, r)
        self.upstream_success_false = Counter(
            "zproxy_upstream_success_false",
            "Zuora 2xx answers whose JSON body says success: false (declines, validation)",
            ["route"],
            registry=r,
        )
        # Labelled children of the per-request metrics by label values: ``labels()`` takes a
        # lock and builds tuples on every call, a dict lookup does not. Bounded like the
        # metrics themselves (prometheus keeps every child it hands out).
        self._requests_by: dict[tuple[str, str, int], Counter] = {}
        self._cache_by: dict[tuple[str, str], Counter] = {}
        self._upstream_by: dict[tuple[str, str], Counter] = {}
        self._duration_by: dict[str, Histogram] = {}
        self._request_duration_by: dict[str, Histogram] = {}
        #: Config info, reloads, rollbacks, journeys (``observability.change``).
        self.change = ChangeMetrics(r)
        self.config_info = self.change.config_info
        self.config_reloads = self.change.config_reloads
        self.config_rollbacks = self.change.config_rollbacks
        self.journeys = self.change.journeys
        #: In-process consumers of every answer (the rollback watch), fed by ``on_request``.
        self.observers: list[RequestObserver] = []
        for group in ("reads", "writes"):
            self.breaker_group_state.labels(group).set(0)
        self.breaker_state.set(0)

    def render(self) -> bytes:
        """The text exposition; with ``--workers N`` (PROMETHEUS_MULTIPROC_DIR set by the
        supervisor) every worker's values, summed (counters) or maxed (gauges)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    # --- listeners ------------------------------------------------------------------------
    def on_request(
        self, route: str, method: str, status: int, seconds: float | None = None
    ) -> None:
        key = (route, method, status)
        child = self._requests_by.get(key)
        if child is None:
            child = self._requests_by[key] = self.requests.labels(route, method, str(status))
        child.inc()
        if seconds is not None:
            duration = self._request_duration_by.get(route)
            if duration is None:
                duration = self._request_duration_by[route] = self.request_duration.labels(route)
            duration.observe(seconds)
        for observer in self.observers:
            observer.on_request(route, status)

    def on_cache(self, route: str, result: str) -> None:
        key = (route, result)
        child = self._cache_by.get(key)
        if child is None:
            child = self._cache_by[key] = self.cache.labels(route, result)
        child.inc()

    def on_upstream(self, route: str, outcome: str, seconds: float | None) -> None:
        key = (route, outcome)
        child = self._upstream_by.get(key)
        if child is None:
            child = self._upstream_by[key] = self.upstream_requests.labels(route, outcome)
        child.inc()
        if seconds is not None:
            spent = UPSTREAM_SECONDS.get()
            if spent is not None:
                spent[0] += seconds
            duration = self._duration_by.get(route)
            if duration is None:
                duration = self._duration_by[route] = self.upstream_duration.labels(route)
            duration.observe(seconds)

    def on_upstream_error(self, route: str, cause: str) -> None:
        """A call to Zuora failed; ``cause`` is one of ``upstream.boundary.CAUSES``."""
        self.upstream_errors.labels(route, cause).inc()

    def on_transition(self, group: str, old: str, new: str) -> None:
        value = BREAKER_STATE_VALUE.get(new, 0)
        self._group_states[group] = value
        self.breaker_group_state.labels(group).set(value)
        self.breaker_state.set(max(self._group_states.values()))
        self.breaker_transitions.labels(new).inc()

    # retry budget listener
    def on_retried(self) -> None:
        self.retries.labels("retried").inc()

    def on_budget_exhausted(self) -> None:
        self.retries.labels("budget_exhausted").inc()

    # limiter listener
    def on_wait(self, pool: str, reason: str, seconds: float) -> None:
        self.limiter.labels(pool, f"waited_{reason}").inc()

    def on_reject(self, pool: str, reason: str) -> None:
        self.limiter.labels(pool, f"rejected_{reason}").inc()

    def on_upstream_success_false(self, route: str) -> None:
        """Zuora answered 2xx but ``success: false`` (the payment alerts count these)."""
        self.upstream_success_false.labels(route).inc()
        SUCCESS_FALSE.set(True)
        for observer in self.observers:
            observer.on_success_false(route)

    def declare_routes(self, routes: Iterable[str | RouteShape]) -> None:
        """Zero children for the configured routes, so ``increase()`` sees the first event of
        a route (a series born at 1 shows no increase): ``success: false`` for every route,
        each ``zproxy_writes_total`` result for queueable routes (``on_outage: queue``), each
        ``zproxy_cache_total`` result for cached routes. A bare name declares only the first.
        Idempotent: call again on reload."""
        for route in routes:
            if isinstance(route, str):
                self.upstream_success_false.labels(route)
                continue
            self.upstream_success_false.labels(route.name)
            if route.write is not None and route.write.on_outage == "queue":
                for result in WRITE_RESULTS:
                    self.writes.labels(route.name, result)
            if route.read is not None:
                for result in CACHE_RESULTS:
                    self.cache.labels(route.name, result)
