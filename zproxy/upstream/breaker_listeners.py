"""Who hears of a breaker's transitions: pybreaker's listener contract bridged to our
``TransitionListener``s (metrics, the replayer's wake-up), the publisher that shares
them between processes (``breaker_sync``), and the log (``log_transition``: a local
transition at ``warning`` with its reason and the counts behind it, one adopted from another
process at ``info`` as ``remote``; ``tripped_by`` gathers the counts). A failing listener is
logged, never raised."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pybreaker
import structlog

from zproxy.policy.outcomes import SlidingCounts
from zproxy.upstream.breaker_model import BreakerConfig, BreakerRecord, State, TransitionListener

log = structlog.get_logger("zproxy.upstream.breaker")

NAMES: dict[str, State] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}


#: The log event of a transition to each state.
EVENTS: dict[str, str] = {
    "open": "breaker_opened",
    "half_open": "breaker_half_opened",
    "closed": "breaker_closed",
}


def log_transition(
    group: str, old: str, new: str, reason: str, counts: Mapping[str, object]
) -> None:
    """One line per transition: ``warning`` when this process made it, ``info`` when it was
    adopted from another process (``reason`` ``remote``: that process logged the warning)."""
    event = EVENTS.get(new, "breaker_transition")
    fields = {"group": group, "from_state": old, "to_state": new, "reason": reason, **counts}
    if reason == "remote":
        log.info(event, **fields)
    else:
        log.warning(event, **fields)


def tripped_by(
    reason: str,
    c: BreakerConfig,
    now: float,
    *,
    window: SlidingCounts,
    consecutive: int,
    probes_in_flight: int,
    opened_mono: float,
    probes_succeeded: int,
) -> dict[str, object]:
    """What tripped a transition, for its log line (read before the breaker's counters reset)."""
    if reason in ("consecutive_failures", "failure_ratio", "probe_failed"):
        calls, failures = window.counts(now)
        return {
            "consecutive_failures": consecutive,
            "failure_threshold": c.failure_threshold,
            "window_calls": calls,
            "window_failures": failures,
            "failure_ratio": c.failure_ratio,
            "min_calls": c.min_calls,
            "retry_after": c.reset_timeout,
        }
    if reason == "probe_timeout":
        return {"probes_in_flight": probes_in_flight, "probe_timeout": c.probe_timeout}
    if reason == "reset_timeout":
        return {"open_seconds": round(now - opened_mono, 3)}
    if reason == "probes_succeeded":
        return {"probes_succeeded": probes_succeeded}
    return {}


class Announcer:
    """One group's listeners and publisher."""

    def __init__(self, group: str, listeners: Iterable[TransitionListener] = ()) -> None:
        self.group = group
        self.listeners = list(listeners)
        self.publisher: Callable[[BreakerRecord], None] | None = None

    def notify(self, old: str, new: str) -> None:
        for listener in self.listeners:
            try:
                listener.on_transition(self.group, old, new)
            except Exception:
                log.exception("breaker_listener_failed", group=self.group)

    def publish(self, record: Callable[[], BreakerRecord]) -> None:
        if self.publisher is None:
            return
        try:
            self.publisher(record())
        except Exception:
            log.exception("breaker_publish_failed", group=self.group)


class Bridge(pybreaker.CircuitBreakerListener):
    """pybreaker's listener contract -> our ``on_transition(group, old, new)``."""

    def __init__(self, announcer: Announcer) -> None:
        self._announcer = announcer

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        old = NAMES[old_state.name] if old_state is not None else "closed"
        self._announcer.notify(old, NAMES[new_state.name])
