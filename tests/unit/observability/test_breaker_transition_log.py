"""Every breaker transition is one log line: ``warning`` with the reason and the counts that
tripped it when this process made it, ``info`` with reason ``remote`` when adopted from another
process; the metrics listener still hears each one."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from tests.support.fakes import Transitions
from zproxy.clock import FakeClock
from zproxy.policy.outcomes import Outcome
from zproxy.upstream.breaker_model import BreakerConfig, BreakerRecord, Permit
from zproxy.upstream.breaker_state import Breaker


def _breaker(clock: FakeClock, **config: Any) -> tuple[Breaker, Transitions]:
    seen = Transitions()
    settings = {"failure_threshold": 3, "reset_timeout": 5.0, "min_calls": 100, **config}
    return Breaker("reads", BreakerConfig(**settings), clock, [seen]), seen


def _fail(breaker: Breaker, times: int) -> None:
    for _ in range(times):
        permit = breaker.acquire()
        assert isinstance(permit, Permit)
        breaker.record(permit, Outcome.OUTAGE_FAILURE)


def _transitions(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if str(e["event"]).startswith("breaker_") and "to_state" in e]


def test_consecutive_failures_open_with_a_warning_naming_the_counts() -> None:
    clock = FakeClock()
    breaker, seen = _breaker(clock)
    with capture_logs() as logs:
        _fail(breaker, 3)
    [line] = _transitions(logs)
    assert line["event"] == "breaker_opened"
    assert line["log_level"] == "warning"
    assert line["group"] == "reads"
    assert (line["from_state"], line["to_state"]) == ("closed", "open")
    assert line["reason"] == "consecutive_failures"
    assert line["consecutive_failures"] == 3
    assert line["failure_threshold"] == 3
    assert (line["window_calls"], line["window_failures"]) == (3, 3)
    assert seen.seen == [("reads", "closed", "open")]


def test_the_failure_ratio_is_named_when_it_trips() -> None:
    clock = FakeClock()
    breaker, _ = _breaker(clock, failure_threshold=50, min_calls=4, failure_ratio=0.5)
    with capture_logs() as logs:
        for outcome in (Outcome.OUTAGE_FAILURE, Outcome.SUCCESS, Outcome.OUTAGE_FAILURE):
            permit = breaker.acquire()
            assert isinstance(permit, Permit)
            breaker.record(permit, outcome)
        assert not _transitions(logs)  # 3 calls < min_calls
        _fail(breaker, 1)
    [line] = _transitions(logs)
    assert line["reason"] == "failure_ratio"
    assert (line["window_calls"], line["window_failures"]) == (4, 3)
    assert line["consecutive_failures"] == 2
    assert (line["failure_ratio"], line["min_calls"]) == (0.5, 4)


def test_half_open_probe_failure_and_recovery_each_logged() -> None:
    clock = FakeClock()
    breaker, seen = _breaker(clock)
    _fail(breaker, 3)
    with capture_logs() as logs:
        clock.advance(5.0)
        breaker.poll()  # the scrape makes the due transition
        _fail(breaker, 1)  # the probe fails
        clock.advance(5.0)
        probe = breaker.acquire()
        assert isinstance(probe, Permit)
        breaker.record(probe, Outcome.SUCCESS)
    lines = _transitions(logs)
    assert [(e["event"], e["reason"]) for e in lines] == [
        ("breaker_half_opened", "reset_timeout"),
        ("breaker_opened", "probe_failed"),
        ("breaker_half_opened", "reset_timeout"),
        ("breaker_closed", "probes_succeeded"),
    ]
    assert {e["log_level"] for e in lines} == {"warning"}
    assert lines[0]["open_seconds"] == 5.0
    assert lines[3]["probes_succeeded"] == 1
    assert len(seen.seen) == 5


def test_an_operator_mode_is_the_reason() -> None:
    breaker, _ = _breaker(FakeClock())
    with capture_logs() as logs:
        breaker.set_mode("force_open")
    [line] = _transitions(logs)
    assert (line["event"], line["reason"], line["log_level"]) == (
        "breaker_opened",
        "mode_force_open",
        "warning",
    )


def test_a_transition_from_another_process_is_info_and_remote() -> None:
    clock = FakeClock()
    breaker, seen = _breaker(clock)
    with capture_logs() as logs:
        breaker.apply_remote(BreakerRecord("reads", "open", "auto", clock.time() - 1.0))
        breaker.apply_remote(BreakerRecord("reads", "closed", "auto", None))
    lines = _transitions(logs)
    assert [(e["event"], e["reason"], e["log_level"]) for e in lines] == [
        ("breaker_opened", "remote", "info"),
        ("breaker_closed", "remote", "info"),
    ]
    assert seen.seen == [("reads", "closed", "open"), ("reads", "open", "closed")]


def test_no_line_when_nothing_moves() -> None:
    breaker, _ = _breaker(FakeClock())
    with capture_logs() as logs:
        _fail(breaker, 2)
        breaker.poll()
    assert not _transitions(logs)
