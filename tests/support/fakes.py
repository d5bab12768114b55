"""Time and listener fakes, and the fixtures that hand them out (imported by tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from zproxy.clock import FakeClock
from zproxy.policy.outcomes import Outcome
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import Permit
from zproxy.upstream.breaker_state import Breaker
from zproxy.upstream.breaker_sync import BreakerSync


@dataclass
class FakeSleep:
    """An injectable ``sleep``: records each wait and advances the clock by it."""

    clock: FakeClock
    calls: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)


@dataclass
class Transitions:
    """A breaker listener that records every transition."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def on_transition(self, group: str, old: str, new: str) -> None:
        self.seen.append((group, old, new))


@pytest.fixture
def clock() -> FakeClock:
    """A FakeClock at its default start (``tests.support.queue.T0``)."""
    return FakeClock()


@pytest.fixture
def fake_sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


def trip(breaker: Breaker) -> None:
    """Fail ``breaker`` until it opens."""
    for _ in range(breaker.config.failure_threshold):
        permit = breaker.acquire()
        assert isinstance(permit, Permit)
        breaker.record(permit, Outcome.OUTAGE_FAILURE)
    assert breaker.state == "open"


def breakers_of(sync: BreakerSync) -> BreakerSet:
    """The breakers a ``BreakerSync`` shares."""
    return sync._breakers
