"""Time and listener fakes, and the fixtures that hand them out (imported by tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from zproxy.clock import FakeClock


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
