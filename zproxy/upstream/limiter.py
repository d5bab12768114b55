"""Concurrency limits toward Zuora per pool, and cooldowns after Zuora's 429s.

Zuora answers 429 when a tenant has too many requests in flight (20 for "big process" ZOQL
queries, 40 for the custom class). zproxy keeps its own calls below that: each pool (default
40, "zoql" 20, configurable) admits so many calls at once; a call over the limit waits in FIFO
order up to ``max_wait`` and is then rejected with ``LimiterRejected`` (nothing was sent).

When Zuora does answer 429 with ``Retry-After: N``, ``note_retry_after(pool, N)`` starts a
cooldown: calls of that pool wait it out if it ends within ``max_wait``, else are rejected with
the time left, so during a 429 storm nothing reaches Zuora before the cooldown ends.

Waiting for a slot uses the event loop's timer; the cooldown reads the injected clock and
waits with the injected sleep.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from zproxy.clock import Clock
from zproxy.errors import UpstreamConnectError

DEFAULT_POOL = "default"
_Waiters = collections.deque[asyncio.Future[None]]
Reason = Literal["concurrency", "cooldown"]


def _default_pools() -> dict[str, int]:
    return {DEFAULT_POOL: 40, "zoql": 20}


@dataclass(frozen=True)
class LimiterConfig:
    pools: Mapping[str, int] = field(default_factory=_default_pools)
    max_wait: float = 1.0  # longest a call waits for a slot or a cooldown
    reject_retry_after: float = 1.0  # Retry-After when rejected for concurrency
    max_cooldown: float = 120.0  # cap on a Retry-After we obey

    def __post_init__(self) -> None:
        problems = [f"pool {name!r}: limit must be > 0" for name, n in self.pools.items() if n <= 0]
        if DEFAULT_POOL not in self.pools:
            problems.append(f"pools must include {DEFAULT_POOL!r}")
        if self.max_wait < 0 or self.reject_retry_after < 0 or self.max_cooldown < 0:
            problems.append("max_wait, reject_retry_after and max_cooldown must be >= 0")
        if problems:
            raise ValueError("LimiterConfig: " + "; ".join(problems))


class LimiterRejected(UpstreamConnectError):
    """zproxy's own limit refused the call: nothing was sent (503 + Retry-After)."""

    code = "ZPROXY_UPSTREAM_BUSY"

    def __init__(self, pool: str, reason: Reason, retry_after: float) -> None:
        super().__init__(f"too many requests to Zuora in flight ({reason}); retry later")
        self.pool = pool
        self.reason = reason
        self.retry_after = retry_after


class LimiterListener(Protocol):
    """Metrics hooks."""

    def on_wait(self, pool: str, reason: Reason, seconds: float) -> None:
        """A call waited ``seconds`` (for a slot or a cooldown) and then went ahead."""

    def on_reject(self, pool: str, reason: Reason) -> None: ...


class Limiter(Protocol):
    """What the gateway needs: ``ConcurrencyLimiter`` (per process) or ``FleetLimiter``."""

    async def acquire(self, pool: str) -> Slot: ...

    def release(self, slot: Slot) -> None: ...

    def note_retry_after(self, pool: str, seconds: float) -> None: ...

    async def close(self) -> None: ...


class Cooldown:
    """Until when a pool must not call Zuora. Pure: ``now`` is monotonic seconds."""

    __slots__ = ("_until",)

    def __init__(self) -> None:
        self._until = 0.0

    def extend(self, now: float, seconds: float) -> None:
        """No calls for ``seconds`` from ``now`` (a later end wins over an earlier one)."""
        self._until = max(self._until, now + max(0.0, seconds))

    def until(self, now: float) -> float:
        """Seconds left (0.0 when calls may go)."""
        return max(0.0, self._until - now)


class Slot:
    """One admitted call; give it back with ``ConcurrencyLimiter.release``."""

    __slots__ = ("_pool", "released")

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self.released = False

    @property
    def pool(self) -> str:
        return self._pool.name


class _Pool:
    __slots__ = ("cooldown", "in_flight", "limit", "name", "waiters")

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.in_flight = 0
        self.waiters: _Waiters = collections.deque()
        self.cooldown = Cooldown()

    def hand_on(self) -> None:
        """A slot was freed: give it to the first live waiter, else free it."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # in_flight is unchanged: the slot moves
                return
        self.in_flight -= 1


class ConcurrencyLimiter:
    """Per-pool admission toward Zuora. Unknown pool names use the default pool."""

    def __init__(
        self,
        config: LimiterConfig,
        clock: Clock,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        listener: LimiterListener | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._listener = listener
        self._pools = {name: _Pool(name, limit) for name, limit in config.pools.items()}

    @property
    def clock(self) -> Clock:
        return self._clock

    def _pool(self, name: str) -> _Pool:
        return self._pools.get(name) or self._pools[DEFAULT_POOL]

    async def acquire(self, pool: str) -> Slot:
        """Wait (at most ``max_wait``) for a slot; raise ``LimiterRejected`` if none."""
        p = self._pool(pool)
        budget = await self._wait_cooldown(p)
        if p.in_flight < p.limit and not p.waiters:
            p.in_flight += 1
            return Slot(p)
        if budget <= 0:
            raise self._reject(p, "concurrency", self.config.reject_retry_after)
        return await self._wait_slot(p, budget)

    async def _wait_cooldown(self, p: _Pool) -> float:
        budget = self.config.max_wait
        remaining = p.cooldown.until(self._clock.monotonic())
        while remaining > 0:
            if remaining > budget:
                raise self._reject(p, "cooldown", remaining)
            await self._sleep(remaining)
            budget -= remaining
            if self._listener is not None:
                self._listener.on_wait(p.name, "cooldown", remaining)
            remaining = p.cooldown.until(self._clock.monotonic())
        return budget

    async def _wait_slot(self, p: _Pool, budget: float) -> Slot:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        p.waiters.append(waiter)
        started = loop.time()
        try:
            async with asyncio.timeout(budget):
                await waiter
        except TimeoutError:
            if not (waiter.done() and not waiter.cancelled()):
                _discard(p.waiters, waiter)
                raise self._reject(p, "concurrency", self.config.reject_retry_after) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                p.hand_on()  # we were given the slot but will not use it
            else:
                _discard(p.waiters, waiter)
            raise
        if self._listener is not None:
            self._listener.on_wait(p.name, "concurrency", loop.time() - started)
        return Slot(p)

    def release(self, slot: Slot) -> None:
        """Give the slot back (a second release of the same slot is ignored)."""
        if slot.released:
            return
        slot.released = True
        slot._pool.hand_on()

    @asynccontextmanager
    async def slot(self, pool: str) -> AsyncIterator[Slot]:
        """``async with limiter.slot("zoql"): ...``"""
        held = await self.acquire(pool)
        try:
            yield held
        finally:
            self.release(held)

    def cooldown(self, pool: str) -> Cooldown:
        return self._pool(pool).cooldown

    def note_retry_after(self, pool: str, seconds: float) -> None:
        """Zuora answered 429 with ``Retry-After: seconds``: hold this pool's calls back."""
        capped = min(max(0.0, seconds), self.config.max_cooldown)
        self._pool(pool).cooldown.extend(self._clock.monotonic(), capped)

    def in_flight(self, pool: str) -> int:
        return self._pool(pool).in_flight

    async def close(self) -> None:
        """Nothing to hand back: the slots live in this process only."""

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = self._clock.monotonic()
        return {
            name: {
                "limit": p.limit,
                "in_flight": p.in_flight,
                "waiting": sum(1 for w in p.waiters if not w.done()),
                "cooldown": round(p.cooldown.until(now), 3),
            }
            for name, p in self._pools.items()
        }

    def _reject(self, p: _Pool, reason: Reason, retry_after: float) -> LimiterRejected:
        if self._listener is not None:
            self._listener.on_reject(p.name, reason)
        return LimiterRejected(p.name, reason, retry_after)


def _discard(waiters: _Waiters, waiter: asyncio.Future[None]) -> None:
    with suppress(ValueError):
        waiters.remove(waiter)
