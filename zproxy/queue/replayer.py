"""Drains the write queue once Zuora is back: per order key FIFO, keys in parallel.

Each round claims the head write of up to ``concurrency`` order keys, replays them in
parallel through the injected ``send`` (the lead's upstream client + breaker), and records
one outcome per claim, judged by ``zproxy.policy.replay.classify_replay``. Decisions:

- A write past ``max_age`` (from acceptance, or from an operator's re-queue) is dead-lettered
  as ``expired_idempotency_window`` before anything is sent.
- Leases are renewed every ``lease_seconds / 3`` (real time) while ``send`` runs; a consumer
  that lost its lease records nothing, and its listener is not called.
- A 429 pauses the whole replayer until its Retry-After passed (rate limits are per tenant,
  so the other keys would only be refused too), besides holding that key.
- ``can_send()`` gates each round (the write breaker, which lets probes through): while it
  says no, nothing is claimed.
- A send the breaker (or the upstream limiter) refused never left: the claim is released
  without backoff, and the next round, which starts once this round's other sends (a
  half-open probe among them) are done, claims it again.
- ``send`` raising is treated like a connection reset (outcome unknown: retry with the same
  Idempotency-Key, which every stored POST/PATCH carries).
- An outcome Redis failed to record (Zuora answered, Redis is down or restarting) is recorded
  again every ``record_retry`` .. ``record_retry_max`` seconds (injected ``sleep``) until Redis
  is back, while the lease is renewed: the write is never sent twice for want of a record
  (a PUT carries no Idempotency-Key). Only ``stop()`` gives up on it.
- The listener hears only outcomes this replayer recorded (``on_applied`` purges cache tags).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Protocol, assert_never

import structlog

from zproxy.clock import Clock
from zproxy.errors import StoreUnavailable
from zproxy.policy.replay import (
    DEFAULT_MAX_AGE,
    Applied,
    Backoff,
    Dead,
    ReplayResult,
    Retry,
    Uniform,
    check_age,
    classify_replay,
)
from zproxy.queue.model import Claim, QueuedWrite
from zproxy.queue.store import WriteQueue

log = structlog.get_logger("zproxy.queue.replayer")

Send = Callable[[QueuedWrite], Awaitable[ReplayResult]]
Sleep = Callable[[float], Awaitable[None]]


class ReplayListener(Protocol):
    async def on_applied(self, write: QueuedWrite, status: int, body: bytes) -> None: ...

    async def on_retried(self, write: QueuedWrite, delay: float, reason: str) -> None: ...

    async def on_dead(
        self, write: QueuedWrite, reason: str, status: int | None, body: bytes
    ) -> None: ...


class NullListener:
    async def on_applied(self, write: QueuedWrite, status: int, body: bytes) -> None:
        return None

    async def on_retried(self, write: QueuedWrite, delay: float, reason: str) -> None:
        return None

    async def on_dead(
        self, write: QueuedWrite, reason: str, status: int | None, body: bytes
    ) -> None:
        return None


def _always() -> bool:
    return True


class Replayer:
    def __init__(
        self,
        queue: WriteQueue,
        send: Send,
        *,
        clock: Clock,
        consumer_id: str,
        sleep: Sleep = asyncio.sleep,
        concurrency: int = 4,
        lease_seconds: float = 30.0,
        max_age: float = DEFAULT_MAX_AGE,
        listener: ReplayListener | None = None,
        can_send: Callable[[], bool] = _always,
        backoff: Backoff | None = None,
        rng: Uniform | None = None,
        poll_interval: float = 1.0,
        reclaim_interval: float = 60.0,
        record_retry: float = 0.1,
        record_retry_max: float = 1.0,
    ) -> None:
        if ":" in consumer_id or not consumer_id:
            raise ValueError("consumer_id must be non-empty and contain no ':'")
        self._queue = queue
        self._send = send
        self._clock = clock
        self._sleep = sleep
        self.consumer_id = consumer_id
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._max_age = max_age
        self._listener: ReplayListener = listener or NullListener()
        self._can_send = can_send
        self._backoff = backoff or Backoff()
        self._rng: Uniform = rng or random.Random()
        self._poll = poll_interval
        self._reclaim_every = reclaim_interval
        self._record_retry = record_retry
        self._record_retry_max = record_retry_max
        self._paused_until = 0.0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Call after an enqueue or when the breaker closes: start a round now."""
        self._wake.set()

    async def run(self) -> None:
        """Replay rounds until ``stop()``; sleeps ``poll_interval`` when there is nothing to do."""
        last_reclaim: float | None = None
        while not self._stopping.is_set():
            now = self._clock.time()
            if last_reclaim is None or now - last_reclaim >= self._reclaim_every:
                last_reclaim = now
                await self._reclaim(now)
            try:
                done = await self.drain_once()
            except StoreUnavailable as exc:
                log.warning("replay.store_unavailable", error=str(exc))
                done = 0
            if done == 0 and not self._stopping.is_set():
                await self._idle()

    async def _reclaim(self, now: float) -> None:
        try:
            await self._queue.reclaim(now)
        except StoreUnavailable as exc:
            log.warning("replay.reclaim_failed", error=str(exc))

    async def _idle(self) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._sleep(self._poll))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def drain_once(self) -> int:
        """One round: claim up to ``concurrency`` heads and replay them. Returns how many."""
        now = self._clock.time()
        if now < self._paused_until or not self._can_send():
            return 0
        claims = await self._queue.claim(self.consumer_id, now, self._lease, self._concurrency)
        if not claims:
            return 0
        results = await asyncio.gather(*(self._replay(c) for c in claims), return_exceptions=True)
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "replay.outcome_not_recorded",
                    write_id=claim.write_id,
                    error=type(result).__name__,
                )
        return len(claims)

    async def _replay(self, claim: Claim) -> None:
        expired = check_age(claim.age_origin, self._clock.time(), self._max_age)
        if expired is not None:
            await self._record(claim, expired, ReplayResult())
            return
        renewer = asyncio.ensure_future(self._keep_lease(claim))
        try:
            result = await self._send(claim.write)
        except Exception as exc:  # the lead's send should not raise; treat as unknown outcome
            log.warning("replay.send_raised", write_id=claim.write_id, error=type(exc).__name__)
            result = ReplayResult(error="reset")
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        now = self._clock.time()
        if result.error == "breaker_open":
            if not await self._queue.release(claim, now):
                log.warning("replay.lease_lost", write_id=claim.write_id, status=None)
            return
        outcome = classify_replay(
            result, attempt=claim.attempts, now=now, rng=self._rng, backoff=self._backoff
        )
        await self._record(claim, outcome, result)

    async def _record(
        self, claim: Claim, outcome: Applied | Retry | Dead, result: ReplayResult
    ) -> None:
        now = self._clock.time()
        write = claim.write
        if isinstance(outcome, Applied):
            applied = outcome
            if await self._persist(
                claim, lambda: self._queue.mark_applied(claim, applied.status, applied.body, now)
            ):
                await self._tell(self._listener.on_applied(write, outcome.status, outcome.body))
                return
        elif isinstance(outcome, Retry):
            retry = outcome
            if outcome.status == 429:
                self._paused_until = max(self._paused_until, now + outcome.delay)
            if await self._persist(
                claim,
                lambda: self._queue.mark_retry(
                    claim, now + retry.delay, retry.status, retry.reason
                ),
            ):
                await self._tell(self._listener.on_retried(write, outcome.delay, outcome.reason))
                return
        elif isinstance(outcome, Dead):
            dead = outcome
            if await self._persist(
                claim,
                lambda: self._queue.mark_dead(claim, dead.reason, dead.status, dead.body, now),
            ):
                await self._tell(
                    self._listener.on_dead(write, outcome.reason, outcome.status, outcome.body)
                )
                return
        else:
            assert_never(outcome)
        log.warning("replay.lease_lost", write_id=claim.write_id, status=result.status)

    async def _persist(self, claim: Claim, mark: Callable[[], Awaitable[bool]]) -> bool:
        """Record a known outcome, however long Redis takes to come back: the claim keeps its
        lease meanwhile (renewed), so the write is never sent again. Gives up only on
        ``stop()`` (the StoreUnavailable propagates: ``replay.outcome_not_recorded``)."""
        delay = self._record_retry
        renewer: asyncio.Future[None] | None = None
        try:
            while True:
                try:
                    return await mark()
                except StoreUnavailable as exc:
                    if self._stopping.is_set():
                        raise
                    log.warning("replay.record_retry", write_id=claim.write_id, error=str(exc))
                if renewer is None:
                    renewer = asyncio.ensure_future(self._keep_lease(claim))
                await self._sleep(delay)
                delay = min(delay * 2, self._record_retry_max)
        finally:
            if renewer is not None:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer

    async def _tell(self, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception as exc:
            log.error("replay.listener_failed", error=type(exc).__name__)

    async def _keep_lease(self, claim: Claim) -> None:
        """Renew in real time while ``send`` runs; stop when the lease is lost."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                if not await self._queue.renew(claim, self._clock.time(), self._lease):
                    log.warning("replay.lease_lost_while_sending", write_id=claim.write_id)
                    return
            except StoreUnavailable:
                log.warning("replay.renew_failed", write_id=claim.write_id)
