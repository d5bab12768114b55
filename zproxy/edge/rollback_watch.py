"""The watch after a config reload: per-process counts of answered and failed requests, fed
by ``Metrics``' listener calls (``RequestObserver``), and a loop that asks
``policy.rollback.decide`` once a second until the change is kept or rolled back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from zproxy.clock import Clock
from zproxy.config.model import RollbackSettings, Settings
from zproxy.config.reload import journeys_of
from zproxy.policy.rollback import SecondBuckets, Tally, Verdict, decide

log = structlog.get_logger("zproxy.config")
#: Answers that say nothing about the config: the client went away.
_IGNORED = frozenset({499})


class RollbackWatch:
    def __init__(
        self,
        clock: Clock,
        on_verdict: Callable[[Verdict], Awaitable[None]],
        *,
        tick: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._on_verdict = on_verdict
        self._tick = tick
        self._sleep = sleep
        self._rules = RollbackSettings()
        self._journeys: dict[str, str] = {}
        self._buckets = SecondBuckets(self._rules.window + 2)
        self._before = Tally()
        self._after = Tally()
        self._changed_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    # --- RequestObserver ---------------------------------------------------------------------
    def on_request(self, route: str, status: int) -> None:
        if status in _IGNORED or not self._counts(route):
            return
        failed = 1 if status >= 500 else 0
        self._buckets.add(self._clock.time(), 1, failed)
        if self._changed_at is not None:
            self._after = self._after + Tally(1, failed)

    def on_success_false(self, route: str) -> None:
        if not self._counts(route):
            return
        self._buckets.add(self._clock.time(), 0, 1)
        if self._changed_at is not None:
            self._after = self._after + Tally(0, 1)

    def _counts(self, route: str) -> bool:
        only = self._rules.journeys
        return not only or self._journeys.get(route, "other") in only

    # --- control -----------------------------------------------------------------------------
    @property
    def watching(self) -> bool:
        return self._changed_at is not None

    def configure(self, settings: Settings) -> None:
        """The rules and route journeys of the config now in force."""
        self._rules = settings.rollback
        self._journeys = journeys_of(settings)
        self._buckets.horizon = max(self._buckets.horizon, self._rules.window + 2)

    def arm(self) -> None:
        """A change took effect now: compare what follows with the window before it."""
        self.disarm()
        now = self._clock.time()
        self._before = self._buckets.between(now - self._rules.window, now + 1)
        self._after = Tally()
        self._changed_at = now
        self._task = asyncio.create_task(self._run(now), name="zproxy-rollback-watch")

    def disarm(self) -> None:
        self._changed_at = None
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def stop(self) -> None:
        task = self._task
        self.disarm()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, changed_at: float) -> None:
        rules = self._rules
        while self._changed_at == changed_at:
            await self._sleep(self._tick)
            verdict = decide(
                self._before,
                self._after,
                changed_at=changed_at,
                now=self._clock.time(),
                window=rules.window,
                error_rate=rules.error_rate,
                min_requests=rules.min_requests,
            )
            if verdict.action == "wait":
                continue
            self._changed_at = None
            self._task = None
            if verdict.action == "keep":
                log.info(
                    "config_kept",
                    failed_before=round(verdict.before.rate, 4),
                    failed_after=round(verdict.after.rate, 4),
                    requests_after=verdict.after.requests,
                )
            await self._on_verdict(verdict)
            return
