"""RetryPolicy and RetryBudget with a FakeClock and a sleep that only records."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fakes import FakeSleep
from zproxy.clock import FakeClock
from zproxy.errors import UpstreamTimeout
from zproxy.upstream.retry import RetryBudget, RetryConfig, RetryPolicy


class HighRng(random.Random):
    """Jitter that always picks the top of the window: makes waits exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


@dataclass
class Counting:
    retried: int = 0
    exhausted: int = 0

    def on_retried(self) -> None:
        self.retried += 1

    def on_budget_exhausted(self) -> None:
        self.exhausted += 1


class Attempts:
    """An upstream call scripted by a list of results/exceptions; may take time."""

    def __init__(self, script: list[object], clock: FakeClock, takes: float = 0.0) -> None:
        self.script = list(script)
        self.clock = clock
        self.takes = takes
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        self.clock.advance(self.takes)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        return item


def retry_on_timeouts_and_503(value: object) -> float | None:
    if isinstance(value, UpstreamTimeout) or value == 503:
        return 0.0
    if isinstance(value, tuple):  # (429, retry_after)
        return float(value[1])
    return None


def policy(clock: FakeClock, sleep: FakeSleep, **overrides: float) -> RetryPolicy:
    config = RetryConfig(**overrides)  # type: ignore[arg-type]
    return RetryPolicy(config, clock, sleep, rng=HighRng())


async def test_success_first_time_does_not_sleep(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    attempt = Attempts([200], clock)
    result = await policy(clock, fake_sleep).run(attempt, is_retryable=retry_on_timeouts_and_503)
    assert result == 200
    assert attempt.calls == 1
    assert fake_sleep.calls == []


async def test_retries_until_success_with_exponential_waits(
    clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    attempt = Attempts([UpstreamTimeout("t"), 503, UpstreamTimeout("t"), 200], clock)
    p = policy(clock, fake_sleep, max_attempts=5, base_delay=0.1, max_delay=0.3)
    assert await p.run(attempt, is_retryable=retry_on_timeouts_and_503) == 200
    assert attempt.calls == 4
    assert fake_sleep.calls == pytest.approx([0.1, 0.2, 0.3])  # capped at max_delay


async def test_gives_up_after_max_attempts_and_raises_the_last_error(
    clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    last = UpstreamTimeout("third")
    attempt = Attempts([UpstreamTimeout("first"), UpstreamTimeout("second"), last], clock)
    with pytest.raises(UpstreamTimeout) as caught:
        await policy(clock, fake_sleep).run(attempt, is_retryable=retry_on_timeouts_and_503)
    assert caught.value is last
    assert attempt.calls == 3


async def test_returns_the_last_retryable_result(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    attempt = Attempts([503], clock)
    result = await policy(clock, fake_sleep).run(attempt, is_retryable=retry_on_timeouts_and_503)
    assert result == 503
    assert attempt.calls == 3


@pytest.mark.parametrize("outcome", [400, 404, ValueError("not retryable")])
async def test_no_retry_when_not_retryable(
    clock: FakeClock, fake_sleep: FakeSleep, outcome: object
) -> None:
    attempt = Attempts([outcome, 200], clock)
    p = policy(clock, fake_sleep)
    if isinstance(outcome, BaseException):
        with pytest.raises(ValueError, match="not retryable"):
            await p.run(attempt, is_retryable=retry_on_timeouts_and_503)
    else:
        assert await p.run(attempt, is_retryable=retry_on_timeouts_and_503) == outcome
    assert attempt.calls == 1


async def test_cancellation_is_never_retried(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    attempt = Attempts([asyncio.CancelledError(), 200], clock)
    with pytest.raises(asyncio.CancelledError):
        await policy(clock, fake_sleep).run(attempt, is_retryable=lambda _: 0.0)
    assert attempt.calls == 1


async def test_deadline_bounds_total_time(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    # each attempt takes 0.9 s; deadline 2 s: 0.9 + 0.1 wait fits, 1.9 + 0.2 does not
    attempt = Attempts([UpstreamTimeout("slow")], clock, takes=0.9)
    p = policy(clock, fake_sleep, max_attempts=10, deadline=2.0)
    with pytest.raises(UpstreamTimeout):
        await p.run(attempt, is_retryable=retry_on_timeouts_and_503)
    assert attempt.calls == 2
    assert fake_sleep.calls == pytest.approx([0.1])


@pytest.mark.parametrize(
    ("retry_after", "expected_sleeps", "calls"),
    [
        (0.05, [0.1], 2),  # backoff is longer: wait the backoff
        (1.5, [1.5], 2),  # Retry-After is longer: wait it, it fits in 2 s
        (2.5, [], 1),  # does not fit in the deadline: stop at once
    ],
)
async def test_retry_after_is_respected(
    clock: FakeClock,
    fake_sleep: FakeSleep,
    retry_after: float,
    expected_sleeps: list[float],
    calls: int,
) -> None:
    attempt = Attempts([(429, retry_after), 200], clock)
    result = await policy(clock, fake_sleep, deadline=2.0).run(
        attempt, is_retryable=retry_on_timeouts_and_503
    )
    assert attempt.calls == calls
    assert fake_sleep.calls == pytest.approx(expected_sleeps)
    assert result == (200 if calls == 2 else (429, retry_after))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32), base=st.sampled_from([0.05, 0.1, 0.2]))
def test_full_jitter_stays_within_its_window(seed: int, base: float) -> None:
    clock = FakeClock()
    sleep = FakeSleep(clock)
    config = RetryConfig(
        max_attempts=6, base_delay=base, max_delay=1.0, deadline=100.0, budget_min_retries=10
    )
    p = RetryPolicy(config, clock, sleep, rng=random.Random(seed))
    attempt = Attempts([UpstreamTimeout("t")], clock)
    with pytest.raises(UpstreamTimeout):
        asyncio.run(p.run(attempt, is_retryable=retry_on_timeouts_and_503))
    assert len(sleep.calls) == 5
    for n, waited in enumerate(sleep.calls, start=1):
        assert 0.0 <= waited <= min(1.0, base * 2 ** (n - 1))


async def test_jitter_spreads_waits(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    p = RetryPolicy(
        RetryConfig(max_attempts=2, budget_min_retries=100), clock, fake_sleep, rng=random.Random(7)
    )
    for _ in range(20):
        await p.run(Attempts([503, 200], clock), is_retryable=retry_on_timeouts_and_503)
    assert len(set(fake_sleep.calls)) == 20  # not one fixed delay
    assert all(0.0 <= waited <= 0.1 for waited in fake_sleep.calls)


async def test_budget_exhaustion_stops_retries(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    counting = Counting()
    config = RetryConfig(max_attempts=2, budget_ratio=0.2, budget_min_retries=3)
    budget = RetryBudget.from_config(config, clock, counting)
    p = RetryPolicy(config, clock, fake_sleep, budget=budget, rng=HighRng())
    calls = 0
    for _ in range(10):  # low traffic, all failing: only the floor of 3 retries
        attempt = Attempts([503], clock)
        await p.run(attempt, is_retryable=retry_on_timeouts_and_503)
        calls += attempt.calls
    assert calls == 13
    assert (counting.retried, counting.exhausted) == (3, 7)
    assert budget.counts() == (10, 3)
    clock.advance(11)  # the window moved on: the budget is back
    attempt = Attempts([503, 200], clock)
    assert await p.run(attempt, is_retryable=retry_on_timeouts_and_503) == 200
    assert counting.retried == 4


async def test_budget_scales_with_traffic(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    config = RetryConfig(max_attempts=2, budget_ratio=0.2, budget_min_retries=3)
    p = RetryPolicy(config, clock, fake_sleep, rng=HighRng())
    for _ in range(100):
        await p.run(Attempts([200], clock), is_retryable=retry_on_timeouts_and_503)
    retries = 0
    for _ in range(100):  # now Zuora fails everything
        attempt = Attempts([503], clock)
        await p.run(attempt, is_retryable=retry_on_timeouts_and_503)
        retries += attempt.calls - 1
    requests, counted = p.budget.counts()
    assert (requests, counted) == (200, retries)
    assert retries == 40  # 20% of the 200 requests, far above the floor of 3


@pytest.mark.parametrize(
    "overrides",
    [{"max_attempts": 0}, {"deadline": 0}, {"budget_ratio": 2.0}, {"budget_min_retries": -1}],
)
def test_config_is_validated(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryConfig"):
        RetryConfig(**overrides)  # type: ignore[arg-type]
