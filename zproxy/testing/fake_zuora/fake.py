"""The fake's whole state in one object: tenants, tokens, idempotency, faults, limits, stats,
ledger. The control API and tests drive it through these methods."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from zproxy.clock import Clock
from zproxy.testing.fake_zuora.auth import AuthService
from zproxy.testing.fake_zuora.data import DEFAULT_ACCOUNTS, seed_tenant
from zproxy.testing.fake_zuora.faults import FaultController, FaultRule, Phase, RequestInfo
from zproxy.testing.fake_zuora.idempotency import IdempotencyStore
from zproxy.testing.fake_zuora.limits import ConcurrencyLimiter, RateWindow
from zproxy.testing.fake_zuora.state import TenantState
from zproxy.testing.fake_zuora.stats import Ledger, Stats
from zproxy.testing.fake_zuora.zoql import Locators


class Holds:
    """Wakes requests held by ``slow``/``timeout`` when faults change, on reset and shutdown."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when woken early."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def release_all(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


@dataclass(slots=True)
class FakeZuora:
    seed: int
    clock: Clock
    auth: AuthService
    accounts: int = DEFAULT_ACCOUNTS
    tenants: dict[int, TenantState] = field(default_factory=dict)
    faults: FaultController = field(init=False)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    limiter: ConcurrencyLimiter = field(default_factory=ConcurrencyLimiter)
    rate: RateWindow = field(default_factory=RateWindow)
    stats: Stats = field(default_factory=Stats)
    ledger: Ledger = field(default_factory=Ledger)
    locators: Locators = field(default_factory=Locators)
    holds: Holds = field(default_factory=Holds)

    def __post_init__(self) -> None:
        self.faults = FaultController(seed=self.seed)

    def tenant(self, number: int) -> TenantState:
        """Tenant ``number``'s data, seeded on first use."""
        state = self.tenants.get(number)
        if state is None:
            state = self.tenants[number] = seed_tenant(number, self.seed, self.accounts)
        return state

    # -- control ------------------------------------------------------------------------------

    def set_fault(self, rule: FaultRule, *, add: bool = False) -> None:
        self.faults.set_rule(rule, add=add)
        self.holds.release_all()

    def set_timeline(self, phases: list[Phase]) -> None:
        self.faults.set_timeline(phases, self.clock.monotonic())
        self.holds.release_all()

    def set_limits(self, limits: dict[str, int]) -> None:
        self.limiter.limits.update(limits)

    def reset(self) -> None:
        """Back to the seed: data, tokens kept, faults up, counters, ledger and keys cleared."""
        self.tenants.clear()
        self.faults.reset()
        self.idempotency = IdempotencyStore()
        self.stats = Stats(in_flight=self.stats.in_flight)
        self.ledger = Ledger()
        self.locators = Locators()
        self.rate = RateWindow(per_minute=self.rate.per_minute)
        self.holds.release_all()

    def still_faulted(self, rule: FaultRule, req: RequestInfo) -> bool:
        """Is ``rule`` still the one in force for ``req`` (a held request asks this)?"""
        for active in self.faults.active_rules(self.clock.monotonic()):
            if active.matches(req):
                if active.mode == "up":
                    return False
                if active == rule:
                    return True
        return False

    def stats_json(self) -> dict[str, Any]:
        out = self.stats.to_json()
        out["in_flight_by_pool"] = self.limiter.snapshot()
        out["idempotency_in_flight"] = self.idempotency.in_flight()
        out["ledger_size"] = len(self.ledger.entries)
        return out

    def seed_info(self, tenant: int) -> dict[str, Any]:
        """Keys a traffic generator needs: account numbers, subscriptions, rate plan ids."""
        state = self.tenant(tenant)
        return {
            "tenant": tenant,
            "accounts": list(state.accounts),
            "subscriptions": list(state.subscriptions),
            "products": [p["id"] for p in state.products],
            "productRatePlans": [
                {"id": plan["id"], "name": plan["name"], "product": prod["name"]}
                for prod in state.products
                for plan in prod["productRatePlans"]
            ],
        }


FAKE = web.AppKey("fake_zuora", FakeZuora)
