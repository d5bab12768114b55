"""Breaker invariants over random sequences of calls, outcomes, time and modes."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from zproxy.clock import FakeClock
from zproxy.policy.outcomes import Outcome
from zproxy.upstream.breaker_model import BreakerConfig, Permit, Rejected
from zproxy.upstream.breaker_state import Breaker

OUTCOMES = list(Outcome)

ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.integers(1, 5)),
        st.tuples(st.just("call"), st.integers(1, 6), st.sampled_from(OUTCOMES)),
        st.tuples(st.just("record"), st.integers(0, 50), st.sampled_from(OUTCOMES)),
        st.tuples(st.just("advance"), st.floats(0.0, 15.0)),
        st.tuples(st.just("mode"), st.sampled_from(["auto", "auto", "force_open", "force_closed"])),
    ),
    max_size=120,
)


@dataclass
class Model:
    """What the test observes from outside: transitions and the permits it holds."""

    clock: FakeClock
    opened_at: float | None = None
    episode_probes: list[Permit] = field(default_factory=list)

    def on_transition(self, group: str, old: str, new: str) -> None:
        self.opened_at = self.clock.monotonic() if new == "open" else None
        self.episode_probes = []


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    ops=ops,
    threshold=st.integers(1, 6),
    probes=st.integers(1, 3),
    reset=st.sampled_from([1.0, 5.0, 10.0]),
)
def test_breaker_invariants(
    ops: list[tuple[object, ...]], threshold: int, probes: int, reset: float
) -> None:
    clock = FakeClock()
    model = Model(clock)
    config = BreakerConfig(
        failure_threshold=threshold, half_open_probes=probes, reset_timeout=reset, min_calls=4
    )
    breaker = Breaker("reads", config, clock, [model])
    held: list[Permit] = []
    for op in ops:
        if op[0] == "acquire":
            for _ in range(int(op[1])):  # type: ignore[call-overload]
                _acquire(breaker, clock, model, held, reset)
        elif op[0] == "call":  # n calls that complete at once, all with one outcome
            for _ in range(int(op[1])):  # type: ignore[call-overload]
                if _acquire(breaker, clock, model, held, reset):
                    permit = held.pop()
                    if permit in model.episode_probes:
                        model.episode_probes.remove(permit)
                    breaker.record(permit, op[2])  # type: ignore[arg-type]
        elif op[0] == "record" and held:
            permit = held.pop(int(op[1]) % len(held))  # type: ignore[call-overload]
            if permit in model.episode_probes:
                model.episode_probes.remove(permit)
            breaker.record(permit, op[2])  # type: ignore[arg-type]
        elif op[0] == "advance":
            clock.advance(float(op[1]))  # type: ignore[arg-type]
        elif op[0] == "mode":
            breaker.set_mode(op[1])  # type: ignore[arg-type]
        _check_views(breaker, clock, model, probes, reset)


def _acquire(
    breaker: Breaker, clock: FakeClock, model: Model, held: list[Permit], reset: float
) -> bool:
    opened_before = model.opened_at
    result = breaker.acquire()
    mode = breaker.mode
    if mode == "force_open":
        assert isinstance(result, Rejected)
    elif mode == "force_closed":
        assert isinstance(result, Permit)
    if mode == "auto" and opened_before is not None and clock.monotonic() < opened_before + reset:
        # while open and before reset_timeout, acquire never permits
        assert isinstance(result, Rejected)
        assert 0 < result.retry_after <= reset
    if isinstance(result, Permit):
        held.append(result)
        if result.probe:
            model.episode_probes.append(result)
        return True
    assert result.retry_after > 0
    return False


def _check_views(
    breaker: Breaker, clock: FakeClock, model: Model, probes: int, reset: float
) -> None:
    # half-open never has more than N probes outstanding
    assert len(model.episode_probes) <= probes
    state = breaker.state
    snap = breaker.snapshot()
    assert snap["state"] == state
    assert 0 <= snap["probes_in_flight"] <= probes
    retry_after = breaker.retry_after()
    if state == "closed":
        assert retry_after == 0.0
    elif state == "open" and breaker.mode == "auto":
        assert 0 < retry_after <= reset
