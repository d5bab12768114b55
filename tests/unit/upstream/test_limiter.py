"""ConcurrencyLimiter and Cooldown: many tasks on one loop, no wall-clock assertions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from tests.support.fakes import FakeSleep
from zproxy.clock import FakeClock
from zproxy.errors import UpstreamError
from zproxy.upstream.limiter import (
    ConcurrencyLimiter,
    Cooldown,
    LimiterConfig,
    LimiterRejected,
    Reason,
)


@dataclass
class Recorder:
    waits: list[tuple[str, Reason, float]] = field(default_factory=list)
    rejects: list[tuple[str, Reason]] = field(default_factory=list)

    def on_wait(self, pool: str, reason: Reason, seconds: float) -> None:
        self.waits.append((pool, reason, seconds))

    def on_reject(self, pool: str, reason: Reason) -> None:
        self.rejects.append((pool, reason))


def limiter(
    clock: FakeClock,
    sleep: FakeSleep | None = None,
    recorder: Recorder | None = None,
    **overrides: object,
) -> ConcurrencyLimiter:
    config = LimiterConfig(**overrides)  # type: ignore[arg-type]
    if sleep is None:
        return ConcurrencyLimiter(config, clock, listener=recorder)
    return ConcurrencyLimiter(config, clock, sleep=sleep, listener=recorder)


@pytest.mark.parametrize(("pool", "limit"), [("zoql", 20), ("default", 40), ("orders", 40)])
async def test_200_tasks_never_exceed_the_pool_limit(
    clock: FakeClock, pool: str, limit: int
) -> None:
    lim = limiter(clock, max_wait=30.0)  # loop time; nothing here sleeps for real
    active = 0
    peak = 0
    done = 0

    async def call(i: int) -> None:
        nonlocal active, peak, done
        async with lim.slot(pool):
            active += 1
            peak = max(peak, active)
            for _ in range(i % 4 + 1):  # the call takes a few loop turns
                await asyncio.sleep(0)
            active -= 1
            done += 1

    await asyncio.gather(*(call(i) for i in range(200)))
    assert done == 200
    assert peak == limit  # reached, never exceeded
    assert lim.in_flight(pool) == 0


async def test_waiters_are_served_in_order(clock: FakeClock) -> None:
    lim = limiter(clock, pools={"default": 1}, max_wait=30.0)
    holder = await lim.acquire("default")
    order: list[int] = []

    async def wait(i: int) -> None:
        slot = await lim.acquire("default")
        order.append(i)
        lim.release(slot)

    tasks = [asyncio.create_task(wait(i)) for i in range(5)]
    await asyncio.sleep(0)
    assert lim.snapshot()["default"]["waiting"] == 5
    lim.release(holder)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert lim.in_flight("default") == 0


async def test_full_pool_rejects_at_once_without_max_wait(clock: FakeClock) -> None:
    recorder = Recorder()
    lim = limiter(clock, recorder=recorder, pools={"default": 2}, max_wait=0.0)
    await lim.acquire("default")
    await lim.acquire("default")
    with pytest.raises(LimiterRejected) as caught:
        await lim.acquire("default")
    error = caught.value
    assert isinstance(error, UpstreamError)
    assert error.never_sent
    assert error.status == 503
    assert (error.pool, error.reason, error.retry_after) == ("default", "concurrency", 1.0)
    assert recorder.rejects == [("default", "concurrency")]


async def test_a_wait_that_runs_out_is_rejected_and_forgotten(clock: FakeClock) -> None:
    lim = limiter(clock, pools={"default": 1}, max_wait=0.01)
    holder = await lim.acquire("default")
    with pytest.raises(LimiterRejected):
        await lim.acquire("default")
    assert lim.snapshot()["default"]["waiting"] == 0
    lim.release(holder)
    lim.release(holder)  # a second release is ignored
    assert lim.in_flight("default") == 0


async def test_a_cancelled_waiter_leaks_no_slot(clock: FakeClock) -> None:
    lim = limiter(clock, pools={"default": 1}, max_wait=30.0)
    holder = await lim.acquire("default")
    waiter = asyncio.create_task(lim.acquire("default"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    lim.release(holder)
    assert lim.in_flight("default") == 0


async def test_a_waiter_cancelled_after_being_given_the_slot_hands_it_on(
    clock: FakeClock,
) -> None:
    lim = limiter(clock, pools={"default": 1}, max_wait=30.0)
    holder = await lim.acquire("default")
    first = asyncio.create_task(lim.acquire("default"))
    second = asyncio.create_task(lim.acquire("default"))
    await asyncio.sleep(0)
    lim.release(holder)  # the slot moves to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    slot = await second
    assert lim.in_flight("default") == 1
    lim.release(slot)
    assert lim.in_flight("default") == 0


async def test_concurrency_waits_are_reported(clock: FakeClock) -> None:
    recorder = Recorder()
    lim = limiter(clock, recorder=recorder, pools={"default": 1}, max_wait=30.0)
    holder = await lim.acquire("default")
    waiter = asyncio.create_task(lim.acquire("default"))
    await asyncio.sleep(0)
    lim.release(holder)
    lim.release(await waiter)
    assert [(p, r) for p, r, _ in recorder.waits] == [("default", "concurrency")]
    assert recorder.waits[0][2] >= 0.0


async def test_cooldown_rejects_when_longer_than_max_wait(
    clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    recorder = Recorder()
    lim = limiter(clock, fake_sleep, recorder, max_wait=1.0)
    lim.note_retry_after("zoql", 2.0)
    with pytest.raises(LimiterRejected) as caught:
        await lim.acquire("zoql")
    assert caught.value.reason == "cooldown"
    assert caught.value.retry_after == pytest.approx(2.0)
    assert recorder.rejects == [("zoql", "cooldown")]
    slot = await lim.acquire("default")  # other pools are not held back
    lim.release(slot)
    assert fake_sleep.calls == []


async def test_cooldown_waits_when_it_ends_within_max_wait(
    clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    recorder = Recorder()
    lim = limiter(clock, fake_sleep, recorder, max_wait=1.0)
    lim.note_retry_after("zoql", 2.0)
    clock.advance(1.25)
    slot = await lim.acquire("zoql")
    assert fake_sleep.calls == [pytest.approx(0.75)]
    assert [(p, r) for p, r, _ in recorder.waits] == [("zoql", "cooldown")]
    assert recorder.waits[0][2] == pytest.approx(0.75)
    lim.release(slot)


async def test_no_call_passes_during_a_429_storm(clock: FakeClock, fake_sleep: FakeSleep) -> None:
    """Zuora answers 429 + Retry-After: 2 at t0: nothing reaches it before t0 + 2."""
    lim = limiter(clock, fake_sleep, max_wait=1.0)
    t0 = clock.monotonic()
    lim.note_retry_after("default", 2.0)
    passed_at: list[float] = []
    rejected = 0
    retry_afters: list[float] = []
    for _ in range(40):  # a call every 0.1 s for 4 s
        try:
            slot = await lim.acquire("default")
        except LimiterRejected as exc:
            rejected += 1
            retry_afters.append(exc.retry_after)
        else:
            passed_at.append(clock.monotonic())
            lim.release(slot)
        clock.advance(0.1)
    assert rejected > 0
    assert max(retry_afters) <= 2.0
    assert passed_at
    assert min(passed_at) >= t0 + 2.0


def test_cooldown_keeps_the_later_end() -> None:
    cooldown = Cooldown()
    assert cooldown.until(100.0) == 0.0
    cooldown.extend(100.0, 5.0)
    cooldown.extend(101.0, 1.0)  # ends earlier: ignored
    assert cooldown.until(102.0) == pytest.approx(3.0)
    cooldown.extend(102.0, 10.0)
    assert cooldown.until(102.0) == pytest.approx(10.0)
    assert cooldown.until(200.0) == 0.0


def test_retry_after_is_capped(clock: FakeClock) -> None:
    lim = limiter(clock, max_cooldown=120.0)
    lim.note_retry_after("zoql", 3600.0)
    assert lim.cooldown("zoql").until(clock.monotonic()) == 120.0
    assert lim.snapshot()["zoql"]["cooldown"] == 120.0


@pytest.mark.parametrize(
    "overrides",
    [{"pools": {"default": 0}}, {"pools": {"zoql": 20}}, {"max_wait": -1.0}],
)
def test_config_is_validated(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="LimiterConfig"):
        LimiterConfig(**overrides)  # type: ignore[arg-type]
