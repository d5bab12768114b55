"""Metrics of safe change: the config in force, reloads, rollbacks, customer journeys.

Declared here, registered in ``Metrics``' registry (``Metrics.change``); components report
through the listener methods. ``RequestObserver`` is how an in-process consumer (the rollback
watch) sees each answer as ``Metrics`` counts it, without scraping.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

#: Set when Zuora answered the request being handled ``success: false`` (the request's own
#: context); the edge reads and clears it when it reports the request's journey.
SUCCESS_FALSE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "zproxy_success_false", default=False
)
JOURNEY_OUTCOMES = ("good", "stale", "queued", "failed")


class RequestObserver(Protocol):
    def on_request(self, route: str, status: int) -> None: ...

    def on_success_false(self, route: str) -> None: ...


class ChangeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.config_info = Gauge(
            "zproxy_config_info",
            "Always 1; the config in force: fleet version and settings hash in the labels",
            ["version", "hash"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.config_reloads = Counter(
            "zproxy_config_reloads",
            "Config reloads by result: applied, refused, rolled_back (by hand or by itself)",
            ["result"],
            registry=registry,
        )
        self.config_rollbacks = Counter(
            "zproxy_config_rollbacks",
            "Configs restored because the failed share of requests rose after a reload",
            registry=registry,
        )
        self.config_rollbacks.inc(0)
        self.journeys = Counter(
            "zproxy_journey_requests",
            "Requests by customer journey (route table) and outcome",
            ["journey", "outcome"],
            registry=registry,
        )
        self._journey_by: dict[tuple[str, str], Counter] = {}
        self._info: tuple[str, str] | None = None
        self.declare_journeys(())

    def declare_journeys(self, journeys: Iterable[str]) -> None:
        """Every journey x outcome at 0, so ``increase()`` sees the first one. Idempotent."""
        for journey in {*journeys, "other"}:
            for outcome in JOURNEY_OUTCOMES:
                self.journeys.labels(journey, outcome)

    def on_journey(self, journey: str, outcome: str) -> None:
        key = (journey, outcome)
        child = self._journey_by.get(key)
        if child is None:
            child = self._journey_by[key] = self.journeys.labels(journey, outcome)
        child.inc()

    def on_config(self, version: str, config_hash: str) -> None:
        """The config now in force (the previous one's series is dropped)."""
        if self._info is not None and self._info != (version, config_hash):
            self.config_info.labels(*self._info).set(0)
            self.config_info.remove(*self._info)
        self._info = (version, config_hash)
        self.config_info.labels(version, config_hash).set(1)

    def on_reload(self, result: str) -> None:
        self.config_reloads.labels(result).inc()

    def on_rollback(self) -> None:
        self.config_rollbacks.inc()
