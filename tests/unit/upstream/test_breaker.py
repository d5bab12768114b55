"""The breaker's state machine, as tables of steps over a FakeClock.

Steps: ``S``/``F``/``N``/``Q`` = acquire, then record success / outage failure / not counted
(a 4xx) / not counted (a 429); ``R`` = acquire must be rejected; ``+5`` = advance 5 s.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.fakes import Transitions
from zproxy.clock import FakeClock
from zproxy.errors import UpstreamConnectError
from zproxy.policy.outcomes import Outcome, classify_outcome
from zproxy.upstream.breaker import BreakerSet
from zproxy.upstream.breaker_model import (
    BreakerConfig,
    BreakerOpen,
    BreakerRecord,
    Permit,
    Rejected,
)
from zproxy.upstream.breaker_state import Breaker

_RECORD = {
    "S": Outcome.SUCCESS,
    "F": Outcome.OUTAGE_FAILURE,
    "N": classify_outcome(404, None),
    "Q": classify_outcome(429, None),
}


def run(breaker: Breaker, clock: FakeClock, steps: str) -> None:
    for step in steps.split():
        if step.startswith("+"):
            clock.advance(float(step[1:]))
        elif step == "R":
            assert isinstance(breaker.acquire(), Rejected), steps
        else:
            permit = breaker.acquire()
            assert isinstance(permit, Permit), f"{steps}: {step} was rejected"
            breaker.record(permit, _RECORD[step])


def state_of(breaker: Breaker) -> str:
    """The state, read afresh (a property that may move with the clock)."""
    return breaker.state


def make(clock: FakeClock, **overrides: float) -> Breaker:
    return Breaker("reads", BreakerConfig(**overrides), clock)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        ("F F F F", "closed"),
        ("F F F F F", "open"),
        ("F F F F S F F F F", "closed"),  # a success resets the consecutive count
        ("F F F F N F", "open"),  # a 4xx neither counts nor resets
        ("F F F F Q F", "open"),
        ("N N N N N N N N N N N N", "closed"),  # 4xx never open
        ("Q Q Q Q Q Q Q Q Q Q Q Q", "closed"),  # 429s never open
        ("F F F F F R R", "open"),
        ("F F F F F +9.9 R", "open"),
        ("F F F F F +10 S", "closed"),  # the probe succeeds
        ("F F F F F +10 F", "open"),  # the probe fails
        ("F F F F F +10 F R +9 R", "open"),  # reopened: a fresh reset timeout
        ("F F F F F +10 F +10 S", "closed"),
        ("F F F F F +10 N", "half_open"),  # no news from the probe: still half-open
        ("F F F F F +10 N S", "closed"),  # ...and the next call probes
        ("F F F F F +10 S F F F F", "closed"),  # the count starts again after closing
    ],
)
def test_consecutive_failures(clock: FakeClock, steps: str, state: str) -> None:
    breaker = make(clock)
    run(breaker, clock, steps)
    assert state_of(breaker) == state


@pytest.mark.parametrize(
    ("steps", "state"),
    [
        # min volume 10: four failures among nine calls do not open
        ("S F S F S F S F S", "closed"),
        # the tenth call, a failure: 5/10 >= 0.5 opens though never 5 in a row
        ("S F S F S F S F S F", "open"),
        ("S F S F S F S F S S", "closed"),  # 4/10 < 0.5
        ("S S S S S F S F S F S F", "closed"),  # 4/12
        # failures of long ago left the window (10 s): 2/10 now
        ("F S F S F S F S +11 S S S S S S S S F F", "closed"),
        ("S F S F +5 S F S F S F", "open"),  # within 10 s: 5/10
        ("N N N N N N N N N N F", "closed"),  # not counted: no volume
    ],
)
def test_failure_ratio_with_min_volume(clock: FakeClock, steps: str, state: str) -> None:
    breaker = make(clock, failure_threshold=100)
    run(breaker, clock, steps)
    assert state_of(breaker) == state


def test_open_rejects_with_time_to_next_probe(clock: FakeClock) -> None:
    breaker = make(clock, reset_timeout=10.0)
    run(breaker, clock, "F F F F F +3.5")
    rejected = breaker.acquire()
    assert isinstance(rejected, Rejected)
    assert rejected.retry_after == pytest.approx(6.5)
    assert rejected.state == "open"
    assert breaker.retry_after() == pytest.approx(6.5)
    error = rejected.to_error()
    assert isinstance(error, BreakerOpen)
    assert isinstance(error, UpstreamConnectError)
    assert error.never_sent
    assert error.status == 503
    assert error.retry_after == pytest.approx(6.5)


@pytest.mark.parametrize("probes", [1, 2, 3])
async def test_half_open_lets_exactly_n_probes_through_concurrently(
    clock: FakeClock, probes: int
) -> None:
    breaker = make(clock, half_open_probes=probes)
    run(breaker, clock, "F F F F F +10")
    release = asyncio.Event()
    admitted: list[Permit] = []

    async def call() -> bool:
        permit = breaker.acquire()
        if isinstance(permit, Rejected):
            return False
        admitted.append(permit)
        await release.wait()  # the probe is in flight
        breaker.record(permit, Outcome.SUCCESS)
        return True

    tasks = [asyncio.create_task(call()) for _ in range(50)]
    await asyncio.sleep(0)
    assert len(admitted) == probes
    assert all(p.probe for p in admitted)
    assert state_of(breaker) == "half_open"
    release.set()
    results = await asyncio.gather(*tasks)
    assert sum(results) == probes
    assert state_of(breaker) == "closed"


def test_half_open_with_two_probes_needs_both(clock: FakeClock) -> None:
    breaker = make(clock, half_open_probes=2)
    run(breaker, clock, "F F F F F +10")
    first, second = breaker.acquire(), breaker.acquire()
    assert isinstance(first, Permit)
    assert isinstance(second, Permit)
    assert isinstance(breaker.acquire(), Rejected)
    breaker.record(first, Outcome.SUCCESS)
    assert state_of(breaker) == "half_open"
    assert isinstance(breaker.acquire(), Rejected)  # both probes issued already
    breaker.record(second, Outcome.OUTAGE_FAILURE)
    assert state_of(breaker) == "open"


def test_a_lost_probe_reopens_after_probe_timeout(clock: FakeClock) -> None:
    breaker = make(clock, probe_timeout=30.0)
    run(breaker, clock, "F F F F F +10")
    lost = breaker.acquire()
    assert isinstance(lost, Permit)
    clock.advance(29)
    assert isinstance(breaker.acquire(), Rejected)
    assert state_of(breaker) == "half_open"
    clock.advance(1)
    rejected = breaker.acquire()
    assert isinstance(rejected, Rejected)
    assert rejected.state == "open"
    breaker.record(lost, Outcome.SUCCESS)  # too late: from an older state
    assert state_of(breaker) == "open"


def test_stale_permits_do_not_move_the_breaker(clock: FakeClock) -> None:
    breaker = make(clock)
    slow = breaker.acquire()
    assert isinstance(slow, Permit)
    run(breaker, clock, "F F F F F +10")
    probe = breaker.acquire()
    assert isinstance(probe, Permit)
    breaker.record(slow, Outcome.SUCCESS)  # issued while closed: not a probe
    assert state_of(breaker) == "half_open"
    breaker.record(probe, Outcome.SUCCESS)
    assert state_of(breaker) == "closed"


def test_state_turns_half_open_without_traffic(clock: FakeClock) -> None:
    seen = Transitions()
    breaker = Breaker("writes", BreakerConfig(), clock, [seen])
    run(breaker, clock, "F F F F F +10")
    assert state_of(breaker) == "half_open"
    assert breaker.retry_after() == 0.0
    breaker.poll()  # reading the state moves nothing: the scrape / admin view polls
    assert seen.seen == [("writes", "closed", "open"), ("writes", "open", "half_open")]


def test_listeners_see_every_transition_once(clock: FakeClock) -> None:
    seen = Transitions()
    breaker = Breaker("reads", BreakerConfig(), clock, [seen])
    run(breaker, clock, "F F F F F R +10 F +10 S")
    assert seen.seen == [
        ("reads", "closed", "open"),
        ("reads", "open", "half_open"),
        ("reads", "half_open", "open"),
        ("reads", "open", "half_open"),
        ("reads", "half_open", "closed"),
    ]


def test_a_failing_listener_does_not_break_requests(clock: FakeClock) -> None:
    class Broken:
        def on_transition(self, group: str, old: str, new: str) -> None:
            raise RuntimeError("metrics bug")

    seen = Transitions()
    breaker = Breaker("reads", BreakerConfig(), clock, [Broken(), seen])
    run(breaker, clock, "F F F F F R")
    assert seen.seen == [("reads", "closed", "open")]


@pytest.mark.parametrize(
    ("mode", "steps", "state"),
    [
        ("force_open", "R R +100 R", "open"),  # maintenance: never probes
        ("force_closed", "F F F F F F F F F F F F S", "closed"),  # failures ignored
    ],
)
def test_forced_modes(clock: FakeClock, mode: str, steps: str, state: str) -> None:
    breaker = make(clock)
    breaker.set_mode(mode)  # type: ignore[arg-type]
    run(breaker, clock, steps)
    assert state_of(breaker) == state
    assert breaker.mode == mode


def test_force_open_then_auto_probes_at_once(clock: FakeClock) -> None:
    seen = Transitions()
    breaker = Breaker("writes", BreakerConfig(), clock, [seen])
    breaker.set_mode("force_open")
    rejected = breaker.acquire()
    assert isinstance(rejected, Rejected)
    assert rejected.retry_after == 10.0
    breaker.set_mode("auto")
    assert state_of(breaker) == "half_open"
    run(breaker, clock, "S")
    assert state_of(breaker) == "closed"
    assert [t[2] for t in seen.seen] == ["open", "half_open", "closed"]


def test_force_closed_over_an_open_breaker_then_auto(clock: FakeClock) -> None:
    breaker = make(clock)
    run(breaker, clock, "F F F F F")
    breaker.set_mode("force_closed")
    run(breaker, clock, "S F F F F F")
    breaker.set_mode("auto")
    assert state_of(breaker) == "closed"
    run(breaker, clock, "F F F F")  # counting starts afresh
    assert state_of(breaker) == "closed"


def test_unknown_mode_is_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="unknown breaker mode"):
        make(clock).set_mode("off")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [
        {"failure_threshold": 0},
        {"failure_ratio": 0.0},
        {"failure_ratio": 1.5},
        {"reset_timeout": -1},
        {"half_open_probes": 0},
    ],
)
def test_config_is_validated(overrides: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="BreakerConfig"):
        BreakerConfig(**overrides)  # type: ignore[arg-type]


def test_snapshot_for_the_admin_api(clock: FakeClock) -> None:
    breaker = make(clock)
    run(breaker, clock, "S F F")
    snap = breaker.snapshot()
    assert snap["state"] == "closed"
    assert snap["mode"] == "auto"
    assert snap["consecutive_failures"] == 2
    assert (snap["window_calls"], snap["window_failures"]) == (3, 2)
    run(breaker, clock, "F F F +4")
    snap = breaker.snapshot()
    assert snap["state"] == "open"
    assert snap["opened_at"] == clock.time() - 4
    assert snap["retry_after"] == 6.0


def test_breaker_set_groups_and_modes(clock: FakeClock) -> None:
    seen = Transitions()
    breakers = BreakerSet(clock, {"zoql": BreakerConfig(failure_threshold=2)}, [seen])
    assert breakers.groups == ("reads", "writes", "zoql")
    assert "zoql" in breakers
    assert "nope" not in breakers
    run(breakers["zoql"], clock, "F F")
    assert breakers["zoql"].state == "open"
    assert breakers["reads"].state == "closed"  # groups are independent
    breakers.set_mode("force_open")
    assert {b.group: b.state for b in breakers} == {g: "open" for g in breakers.groups}
    breakers.set_mode("auto", group="reads")
    assert breakers.snapshot()["reads"]["mode"] == "auto"
    assert breakers.snapshot()["writes"]["mode"] == "force_open"
    assert ("zoql", "closed", "open") in seen.seen


def test_apply_remote_open_keeps_the_remote_opening_time(clock: FakeClock) -> None:
    breaker = make(clock)
    published: list[BreakerRecord] = []
    breaker.set_publisher(published.append)
    breaker.apply_remote(BreakerRecord("reads", "open", "auto", clock.time() - 4))
    assert state_of(breaker) == "open"
    assert breaker.retry_after() == pytest.approx(6.0)
    assert published == []  # adopted changes are not echoed
    breaker.apply_remote(BreakerRecord("reads", "closed", "auto", None))
    assert state_of(breaker) == "closed"
    breaker.apply_remote(BreakerRecord("reads", "open", "auto", clock.time() - 11))
    assert state_of(breaker) == "closed"  # too old to matter
    breaker.apply_remote(BreakerRecord("reads", "half_open", "auto", clock.time()))
    assert state_of(breaker) == "closed"  # each process probes for itself
    breaker.apply_remote(BreakerRecord("reads", "open", "force_open", clock.time()))
    assert (breaker.state, breaker.mode) == ("open", "force_open")
    assert published == []


def test_local_changes_are_published(clock: FakeClock) -> None:
    breaker = make(clock)
    published: list[BreakerRecord] = []
    breaker.set_publisher(published.append)
    run(breaker, clock, "F F F F F")
    breaker.set_mode("force_open")
    assert published == [
        BreakerRecord("reads", "open", "auto", clock.time()),
        BreakerRecord("reads", "open", "force_open", clock.time()),
    ]
