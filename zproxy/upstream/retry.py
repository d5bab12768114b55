"""Retries of retry-safe upstream calls: tenacity drives the loop; our clock, sleep and budget.

Only requests the caller knows are safe to repeat (reads, or writes carrying an
``Idempotency-Key``) go through ``RetryPolicy.run``. Each retry waits exponential backoff with
full jitter (uniform in ``[0, min(max_delay, base_delay * 2**(n-1))]``), raised to the
``Retry-After`` the failed attempt carried. A retry happens only if, counting that wait, it
still fits in the deadline (total time since the first attempt), the attempt limit allows it,
and the shared ``RetryBudget`` has room: retries stay at most ``ratio`` of requests over a
sliding window (with a floor so low traffic can still retry), so retries cannot multiply an
outage.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from tenacity import AsyncRetrying, RetryCallState

from zproxy.clock import Clock
from zproxy.policy.outcomes import SlidingCounts

T = TypeVar("T")

#: Says whether a result or exception deserves a retry: None = no, else the minimum wait
#: in seconds (0.0 = plain backoff; a Retry-After value otherwise).
IsRetryable = Callable[[Any], float | None]


@dataclass(frozen=True, slots=True)
class RetryConfig:
    max_attempts: int = 3  # including the first
    base_delay: float = 0.1
    max_delay: float = 1.0  # cap of the backoff window
    deadline: float = 2.0  # attempts + waits, from the first attempt
    budget_ratio: float = 0.2
    budget_window: float = 10.0
    budget_min_retries: int = 3  # per window, whatever the traffic

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be > 0"
            for name in ("max_attempts", "base_delay", "max_delay", "deadline", "budget_window")
            if not getattr(self, name) > 0
        ]
        if not 0.0 <= self.budget_ratio <= 1.0:
            problems.append("budget_ratio must be in [0, 1]")
        if self.budget_min_retries < 0:
            problems.append("budget_min_retries must be >= 0")
        if problems:
            raise ValueError("RetryConfig: " + "; ".join(problems))


class BudgetListener(Protocol):
    """Metrics hooks: a retry was granted, or refused for want of budget."""

    def on_retried(self) -> None: ...

    def on_budget_exhausted(self) -> None: ...


class RetryBudget:
    """Retries allowed: at most ``ratio`` of requests in the window, never fewer than
    ``min_retries`` per window. O(1) amortized, no awaits."""

    def __init__(
        self,
        clock: Clock,
        *,
        ratio: float = 0.2,
        window: float = 10.0,
        min_retries: int = 3,
        listener: BudgetListener | None = None,
        buckets: int = 10,
    ) -> None:
        self._clock = clock
        self._ratio = ratio
        self._min = min_retries
        self._listener = listener
        # total = requests + retries; hits = retries
        self._counts = SlidingCounts(window, buckets)

    @classmethod
    def from_config(
        cls, config: RetryConfig, clock: Clock, listener: BudgetListener | None = None
    ) -> RetryBudget:
        return cls(
            clock,
            ratio=config.budget_ratio,
            window=config.budget_window,
            min_retries=config.budget_min_retries,
            listener=listener,
        )

    def record_request(self) -> None:
        """Count one original request (not a retry)."""
        self._counts.add(self._clock.monotonic(), hit=False)

    def try_spend(self) -> bool:
        """Take one retry from the budget if there is room."""
        now = self._clock.monotonic()
        total, retries = self._counts.counts(now)
        allowed = max(float(self._min), self._ratio * (total - retries))
        if retries + 1 > allowed:
            if self._listener is not None:
                self._listener.on_budget_exhausted()
            return False
        self._counts.add(now, hit=True)
        if self._listener is not None:
            self._listener.on_retried()
        return True

    def counts(self) -> tuple[int, int]:
        """(requests, retries) in the current window."""
        total, retries = self._counts.counts(self._clock.monotonic())
        return total - retries, retries


class RetryPolicy:
    """Runs one retry-safe call with backoff, deadline, attempt limit and budget."""

    def __init__(
        self,
        config: RetryConfig,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        budget: RetryBudget | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.budget = budget if budget is not None else RetryBudget.from_config(config, clock)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()  # jitter only

    def backoff_bound(self, attempt_number: int) -> float:
        """Upper bound of the jittered wait after attempt ``attempt_number`` (1-based)."""
        exponent = min(attempt_number - 1, 60)
        return min(self.config.max_delay, self.config.base_delay * 2.0**exponent)

    async def run(self, attempt: Callable[[], Awaitable[T]], *, is_retryable: IsRetryable) -> T:
        """Call ``attempt`` until it succeeds or may not be retried; return its last result or
        raise its last exception. Cancellation is never retried."""
        self.budget.record_request()
        run = _Run(self, is_retryable, self._clock.monotonic())
        # The first attempt runs bare: most calls need no retry, and tenacity's machinery
        # costs more than the call's own bookkeeping. When it does need one, tenacity takes
        # over and is handed that first outcome as its first attempt (no second call).
        try:
            first = await attempt()
        except Exception as exc:
            if is_retryable(exc) is None:
                raise
            attempt = _replaying(exc, attempt)
        else:
            if is_retryable(first) is None:
                return first
            attempt = _replaying(first, attempt)
        retrying = AsyncRetrying(
            sleep=self._sleep,
            retry=run.retry,
            wait=run.wait,
            stop=run.stop,
            retry_error_callback=_last_outcome,
        )
        return cast(T, await retrying(attempt))


class _Run:
    """tenacity strategies for one ``run``: they share the last attempt's minimum wait."""

    def __init__(self, policy: RetryPolicy, is_retryable: IsRetryable, start: float) -> None:
        self._policy = policy
        self._is_retryable = is_retryable
        self._start = start
        self._min_delay = 0.0

    def retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        assert outcome is not None
        value: Any = outcome.exception() if outcome.failed else outcome.result()
        if isinstance(value, BaseException) and not isinstance(value, Exception):
            return False  # CancelledError, KeyboardInterrupt: re-raised at once
        delay = self._is_retryable(value)
        self._min_delay = max(0.0, delay or 0.0)
        return delay is not None

    def wait(self, state: RetryCallState) -> float:
        bound = self._policy.backoff_bound(state.attempt_number)
        return max(self._policy._rng.uniform(0.0, bound), self._min_delay)

    def stop(self, state: RetryCallState) -> bool:
        policy = self._policy
        if state.attempt_number >= policy.config.max_attempts:
            return True
        elapsed = policy._clock.monotonic() - self._start
        if elapsed + state.upcoming_sleep > policy.config.deadline:
            return True
        return not policy.budget.try_spend()


def _replaying(outcome: object, attempt: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """``attempt``, except that its first call gives ``outcome`` (a result, or an exception
    to raise) without calling it again."""
    pending = [outcome]

    async def replay() -> T:
        if pending:
            known = pending.pop()
            if isinstance(known, BaseException):
                raise known
            return cast(T, known)
        return await attempt()

    return replay


def _last_outcome(state: RetryCallState) -> Any:
    """When retrying stops: the last result, or raise the last exception as it was."""
    assert state.outcome is not None
    return state.outcome.result()
