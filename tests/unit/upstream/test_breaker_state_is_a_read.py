"""Reading a breaker's state changes nothing; ``poll`` makes the transition time made due."""

from __future__ import annotations

from zproxy.clock import FakeClock
from zproxy.policy.outcomes import Outcome
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import BreakerConfig, BreakerRecord, Permit
from zproxy.upstream.breaker_state import Breaker


class Transitions:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def on_transition(self, group: str, old: str, new: str) -> None:
        self.seen.append((group, old, new))


def tripped(clock: FakeClock, listener: Transitions) -> tuple[Breaker, list[BreakerRecord]]:
    breaker = Breaker("reads", BreakerConfig(failure_threshold=1, reset_timeout=10.0), clock)
    breaker.add_listener(listener)
    published: list[BreakerRecord] = []
    breaker.set_publisher(published.append)
    permit = breaker.acquire()
    assert isinstance(permit, Permit)
    breaker.record(permit, Outcome.OUTAGE_FAILURE)
    assert listener.seen == [("reads", "closed", "open")]
    assert [r.state for r in published] == ["open"]
    return breaker, published


def test_reading_state_twice_after_the_cool_down_changes_nothing() -> None:
    clock, listener = FakeClock(), Transitions()
    breaker, published = tripped(clock, listener)
    clock.advance(10.5)

    first, second = breaker.state, breaker.state

    assert first == second == "half_open"  # what a call would meet now
    assert breaker.retry_after() == 0.0
    assert listener.seen == [("reads", "closed", "open")]  # nobody was told of a transition
    assert [r.state for r in published] == ["open"]  # nothing was published
    assert breaker.record_view().state == "open"  # the record did not move


def test_poll_makes_the_due_transition_once() -> None:
    clock, listener = FakeClock(), Transitions()
    breaker, published = tripped(clock, listener)
    clock.advance(9.0)
    assert breaker.poll() is False  # not due yet
    assert breaker.record_view().state == "open"
    clock.advance(1.5)

    assert breaker.poll() is True
    assert breaker.poll() is False  # already made

    assert listener.seen == [("reads", "closed", "open"), ("reads", "open", "half_open")]
    assert [r.state for r in published] == ["open", "half_open"]
    assert breaker.record_view().state == "half_open"
    permit = breaker.acquire()  # the probe
    assert isinstance(permit, Permit)
    assert permit.probe


def test_the_admin_view_polls_every_group() -> None:
    clock, listener = FakeClock(), Transitions()
    breakers = BreakerSet(clock, {"reads": BreakerConfig(failure_threshold=1)}, [listener])
    permit = breakers["reads"].acquire()
    assert isinstance(permit, Permit)
    breakers["reads"].record(permit, Outcome.OUTAGE_FAILURE)
    clock.advance(breakers["reads"].config.reset_timeout)

    assert breakers.snapshot()["reads"]["state"] == "half_open"
    assert listener.seen[-1] == ("reads", "open", "half_open")
    assert breakers["reads"].record_view().state == "half_open"
