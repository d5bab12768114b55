"""Zuora's limits: per-tenant concurrency caps by pool, and a per-minute request window."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

DEFAULT_POOL = "default"
ZOQL_POOL = "zoql"


@dataclass(slots=True)
class ConcurrencyLimiter:
    """``Default`` pool 40, ``zoql`` pool 20 (Zuora's "Big Process Request" class)."""

    limits: dict[str, int] = field(default_factory=lambda: {DEFAULT_POOL: 40, ZOQL_POOL: 20})
    in_flight: defaultdict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))

    def limit(self, pool: str) -> int:
        return self.limits.get(pool, self.limits[DEFAULT_POOL])

    def try_acquire(self, tenant: int, pool: str) -> bool:
        key = (tenant, pool)
        if self.in_flight[key] >= self.limit(pool):
            return False
        self.in_flight[key] += 1
        return True

    def release(self, tenant: int, pool: str) -> None:
        self.in_flight[(tenant, pool)] -= 1

    def remaining(self, tenant: int, pool: str) -> int:
        return max(self.limit(pool) - self.in_flight[(tenant, pool)], 0)

    def snapshot(self) -> dict[str, int]:
        return {f"{t}/{p}": n for (t, p), n in self.in_flight.items() if n}


@dataclass(slots=True)
class RateWindow:
    """A fixed one-minute window per tenant on the monotonic clock (Zuora's API class)."""

    per_minute: int = 50_000
    windows: dict[int, tuple[float, int]] = field(default_factory=dict)

    def hit(self, tenant: int, now: float) -> tuple[int, int, int]:
        """Count one request; returns (limit, remaining, seconds until reset)."""
        start, count = self.windows.get(tenant, (now, 0))
        if now - start >= 60.0:
            start, count = now, 0
        count += 1
        self.windows[tenant] = (start, count)
        reset = max(int(start + 60.0 - now + 0.999), 1)
        return self.per_minute, max(self.per_minute - count, 0), reset

    def exceeded(self, tenant: int) -> bool:
        _, count = self.windows.get(tenant, (0.0, 0))
        return count > self.per_minute
