"""Who hears of a breaker's transitions: pybreaker's listener contract bridged to our
``TransitionListener``s (metrics, the replayer's wake-up), and the publisher that shares
them between processes (``breaker_sync``). A failing listener is logged, never raised."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pybreaker
import structlog

from zproxy.upstream.breaker_model import BreakerRecord, State, TransitionListener

log = structlog.get_logger("zproxy.upstream.breaker")

NAMES: dict[str, State] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}


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
