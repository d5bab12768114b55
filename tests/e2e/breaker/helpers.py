"""Helpers for the failure-handling end-to-end tests: the fake's counters, with arrival times on
the fake's side (the shared client, admin and metric helpers are in ``tests.support``)."""

from __future__ import annotations

import time

from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.stats import Stats

# -- the fake Zuora ---------------------------------------------------------------------------


class TimedStats(Stats):
    """The fake's counters plus when each request arrived and left (``time.monotonic``, the
    clock the fake and zproxy's limiter both read on this host)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []
        self.answers: list[tuple[float, str, str, str]] = []  # (at, method, status, path)

    def enter(self) -> None:
        self.arrivals.append(time.monotonic())
        super().enter()

    def leave(self, method: str, group: str, status: str, path: str) -> None:
        self.answers.append((time.monotonic(), method, status, path))
        super().leave(method, group, status, path)


def timed_stats(fz: RunningFakeZuora) -> TimedStats:
    """Replace the fake's counters with timed ones (from now on)."""
    stats = TimedStats()
    fz.fake.stats = stats
    return stats


def total(fz: RunningFakeZuora) -> int:
    """Requests the fake has seen (answered, dropped or still in flight)."""
    stats = fz.fake.stats
    return sum(stats.requests.values()) + stats.in_flight


def status_count(fz: RunningFakeZuora, status: str, method: str | None = None) -> int:
    return sum(
        n
        for (m, _, s), n in fz.fake.stats.requests.items()
        if s == status and (method is None or m == method)
    )
