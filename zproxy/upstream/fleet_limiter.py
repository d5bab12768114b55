"""The concurrency cap toward Zuora, shared by every zproxy process of a fleet.

Zuora counts concurrent requests per tenant, not per process: two processes with 40 slots
each send 80. ``FleetLimiter`` admits a call only when it holds both a slot of the in-process
``ConcurrencyLimiter`` (FIFO waiting, 429 cooldowns) and a fleet slot in Redis:

* one sorted set per (Zuora tenant, pool), ``zp:{limiter}:<scope>:<pool>``, members are slot
  tokens scored by lease expiry (Redis's own ``TIME``, so the processes' clocks do not
  matter); every key carries the ``{limiter}`` hash tag, so Redis Cluster keeps them in one
  slot and each script touches one key;
* acquire is one Lua script: drop expired leases, add our token if fewer than the pool's limit
  hold one. A call over the cap polls (woken early when a slot of this process is freed) until
  ``max_wait`` is spent, then is refused with ``LimiterRejected`` (nothing was sent);
* release removes the token; a crashed or partitioned process's slots free themselves when
  their lease runs out; while calls run, one task renews every held lease each ``lease / 3``.

While Redis cannot be reached the in-process limiter alone admits (the cap is then per
process, as before) and Redis is tried again after ``redis_retry`` seconds.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from zproxy.upstream.limiter import (
    ConcurrencyLimiter,
    Cooldown,
    LimiterListener,
    LimiterRejected,
    Slot,
)

log = structlog.get_logger("zproxy.upstream.limiter")

KEY_PREFIX = "zp:{limiter}:"

#: KEYS[1] slot set; ARGV: limit, token, lease (ms). 1 when the token now holds a slot.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[1], lease + 1000)
return 1
"""

#: KEYS[1] slot set; ARGV: lease (ms), tokens... Extends the unexpired ones; returns how many.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local kept = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) > now then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
    kept = kept + 1
  end
end
if kept > 0 then
  redis.call('PEXPIRE', KEYS[1], lease + 1000)
end
return kept
"""


class FleetLimiter:
    """``ConcurrencyLimiter``'s interface, capped across the fleet. ``scope`` names the Zuora
    tenant the cap belongs to (processes with the same scope share it)."""

    def __init__(
        self,
        local: ConcurrencyLimiter,
        redis: Redis,
        *,
        scope: str,
        lease: float = 10.0,
        poll: float = 0.02,
        redis_retry: float = 1.0,
        listener: LimiterListener | None = None,
    ) -> None:
        if lease <= 0 or poll <= 0 or redis_retry < 0:
            raise ValueError("FleetLimiter: lease and poll must be > 0, redis_retry >= 0")
        self.local = local
        self.config = local.config
        self._redis = redis
        #: EVALSHA (the script's text is sent again only after a NOSCRIPT).
        self._scripts = {
            _ACQUIRE: redis.register_script(_ACQUIRE),
            _RENEW: redis.register_script(_RENEW),
        }
        self._scope = scope
        self._lease_ms = int(lease * 1000)
        self._poll = poll
        self._redis_retry = redis_retry
        self._listener = listener
        self._held: dict[Slot, str] = {}
        self._down_until: float | None = None  # monotonic; None: Redis is in use
        self._freed = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def key(self, pool: str) -> str:
        return f"{KEY_PREFIX}{self._scope}:{pool}"

    @property
    def fallback(self) -> bool:
        """True while Redis is unusable and the cap is per process."""
        return self._down_until is not None

    async def acquire(self, pool: str) -> Slot:
        """A local slot, then a fleet slot, within ``max_wait`` in all; ``LimiterRejected``
        when either is not to be had."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        slot = await self.local.acquire(pool)
        try:
            token = await self._fleet_slot(slot.pool, started + self.config.max_wait)
        except BaseException:
            self.local.release(slot)
            raise
        if token is not None:
            self._held[slot] = token
            self._ensure_renewer()
        return slot

    def release(self, slot: Slot) -> None:
        """Give the slot back here at once, and in Redis in the background."""
        token = self._held.pop(slot, None)
        self.local.release(slot)
        if token is not None:
            self._spawn(self._remove(slot.pool, token))

    def note_retry_after(self, pool: str, seconds: float) -> None:
        self.local.note_retry_after(pool, seconds)

    def cooldown(self, pool: str) -> Cooldown:
        return self.local.cooldown(pool)

    def in_flight(self, pool: str) -> int:
        return self.local.in_flight(pool)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        out = self.local.snapshot()
        for name, row in out.items():
            row["fleet_slots_held"] = sum(1 for s in self._held if s.pool == name)
            row["fleet"] = "per-process fallback" if self.fallback else "redis"
        return out

    async def fleet_in_flight(self, pool: str) -> int:
        """Unexpired fleet slots of ``pool`` (for tests and the admin API)."""
        key = self.key(pool)
        now_s, now_us = await self._redis.time()
        now_ms = int(now_s) * 1000 + int(now_us) // 1000
        return int(await self._redis.zcount(key, f"({now_ms}", "+inf"))

    async def close(self) -> None:
        """Stop renewing; hand back the slots still held (best effort)."""
        if self._renewer is not None:
            self._renewer.cancel()
        for slot, token in list(self._held.items()):
            self._spawn(self._remove(slot.pool, token))
        self._held.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- Redis -----------------------------------------------------------------------------

    async def _fleet_slot(self, pool: str, deadline: float) -> str | None:
        """A token holding a fleet slot; None when Redis is unusable (per-process fallback)."""
        if not self._redis_usable():
            return None
        loop = asyncio.get_running_loop()
        started = loop.time()
        token = uuid.uuid4().hex
        limit = self.config.pools[pool]
        waited = False
        while True:
            try:
                held = await self._eval(_ACQUIRE, self.key(pool), limit, token, self._lease_ms)
            except RedisError as exc:
                self._fall_back(exc)
                return None
            except asyncio.CancelledError:
                self._spawn(self._remove(pool, token))  # the script may have run
                raise
            self._restored()
            if held:
                if waited and self._listener is not None:
                    self._listener.on_wait(pool, "concurrency", loop.time() - started)
                return token
            left = deadline - loop.time()
            if left <= 0:
                if self._listener is not None:
                    self._listener.on_reject(pool, "concurrency")
                raise LimiterRejected(pool, "concurrency", self.config.reject_retry_after)
            waited = True
            await self._freed_or(min(left, self._poll * random.uniform(0.5, 1.5)))

    async def _eval(self, script: str, key: str, *args: Any) -> int:
        return int(await self._scripts[script](keys=[key], args=list(args)))

    async def _freed_or(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a slot of this process was given back meanwhile."""
        freed = self._freed
        try:
            async with asyncio.timeout(seconds):
                await freed.wait()
        except TimeoutError:
            pass

    async def _remove(self, pool: str, token: str) -> None:
        try:
            await self._redis.zrem(self.key(pool), token)
        except RedisError:
            pass  # the lease runs out instead
        finally:
            freed, self._freed = self._freed, asyncio.Event()
            freed.set()

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_while_held())

    async def _renew_while_held(self) -> None:
        while self._held:
            await asyncio.sleep(self._lease_ms / 3000)
            by_pool: defaultdict[str, list[str]] = defaultdict(list)
            for slot, token in self._held.items():
                by_pool[slot.pool].append(token)
            for pool, tokens in by_pool.items():
                try:
                    kept = await self._eval(_RENEW, self.key(pool), self._lease_ms, *tokens)
                except RedisError as exc:
                    log.warning("fleet_limiter_renew_failed", pool=pool, error=type(exc).__name__)
                    continue
                if kept < len(tokens):
                    log.warning("fleet_limiter_leases_lost", pool=pool, lost=len(tokens) - kept)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- fallback --------------------------------------------------------------------------

    def _redis_usable(self) -> bool:
        return self._down_until is None or self.local.clock.monotonic() >= self._down_until

    def _fall_back(self, exc: BaseException) -> None:
        if self._down_until is None:
            log.warning("fleet_limiter_fallback", cap="per-process", error=type(exc).__name__)
        self._down_until = self.local.clock.monotonic() + self._redis_retry

    def _restored(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            log.info("fleet_limiter_restored", cap="fleet")
