"""One group's circuit breaker: the state machine (closed -> open -> half-open -> closed),
over pybreaker's state storage and listener contract, timed by our clock.

pybreaker decides timing with the wall clock and its ``call_async`` is Tornado-only, so we do
not let it run calls. Each ``Breaker`` keeps a ``pybreaker.CircuitBreaker`` with a
``CircuitMemoryStorage`` as the record of state, counters and ``opened_at``, and moves it
with pybreaker's own state objects so its listener contract (``state_change``) fires; every
timing decision reads the injected ``Clock``. ``state`` is a plain read; transitions happen in
``acquire``, ``record``, ``poll``, ``set_mode`` and ``apply_remote``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

import pybreaker

from zproxy.clock import Clock
from zproxy.policy.outcomes import Outcome, SlidingCounts
from zproxy.upstream.breaker_listeners import NAMES as _NAMES
from zproxy.upstream.breaker_listeners import Announcer, Bridge, log_transition, tripped_by
from zproxy.upstream.breaker_model import (
    MODES,
    BreakerConfig,
    BreakerRecord,
    Mode,
    Permit,
    Rejected,
    State,
    TransitionListener,
)

_CLOSED, _OPEN, _HALF = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN
#: Retry-After while half-open probes are in flight: their answer is due soon.
_HALF_OPEN_RETRY_AFTER = 1.0


class Breaker:
    """One group's breaker. Not thread-safe: use from one event loop, never across an await."""

    def __init__(
        self,
        group: str,
        config: BreakerConfig,
        clock: Clock,
        listeners: Iterable[TransitionListener] = (),
    ) -> None:
        self.group = group
        self.config = config
        self._clock = clock
        self._announcer = Announcer(group, listeners)
        self._storage = pybreaker.CircuitMemoryStorage(_CLOSED)
        self._cb = pybreaker.CircuitBreaker(
            fail_max=config.failure_threshold,
            reset_timeout=config.reset_timeout,
            success_threshold=config.half_open_probes,
            listeners=[Bridge(self._announcer)],
            state_storage=self._storage,
            name=group,
        )
        self._window = SlidingCounts(config.ratio_window, config.window_buckets)
        self._mode: Mode = "auto"
        self._generation = 0
        self._permit = Permit(0, probe=False)
        self._opened_mono = 0.0
        self._opened_wall: float | None = None
        self._probes_issued = 0
        self._probes_in_flight = 0
        self._first_probe_at = 0.0

    # -- the hot path -------------------------------------------------------------------------

    def acquire(self) -> Permit | Rejected:
        """Decide whether one call may go to Zuora now. O(1), never awaits."""
        if self._mode != "auto":
            if self._mode == "force_closed":
                return self._permit
            return Rejected(self.group, "open", self.config.reset_timeout)
        state = self._storage.state
        if state == _CLOSED:
            return self._permit
        now = self._clock.monotonic()
        if state == _OPEN:
            wait = self.config.reset_timeout - (now - self._opened_mono)
            if wait > 0:
                return Rejected(self.group, "open", wait)
            self._transition(_HALF, now, reason="reset_timeout")
        elif self._probes_lost(now):
            self._transition(_OPEN, now, reason="probe_timeout")
            return Rejected(self.group, "open", self.config.reset_timeout)
        if self._probes_issued < self.config.half_open_probes:
            if self._probes_in_flight == 0:
                self._first_probe_at = now
            self._probes_issued += 1
            self._probes_in_flight += 1
            return Permit(self._generation, probe=True)
        return Rejected(self.group, "half_open", _HALF_OPEN_RETRY_AFTER)

    def record(self, permit: Permit, outcome: Outcome) -> None:
        """Report how the permitted call went. Permits from an earlier state are ignored."""
        if permit.generation != self._generation or self._mode != "auto":
            return
        if permit.probe:
            self._record_probe(outcome)
            return
        if outcome is Outcome.NOT_COUNTED:
            return
        now = self._clock.monotonic()
        failed = outcome is Outcome.OUTAGE_FAILURE
        self._window.add(now, failed)
        if not failed:
            self._storage.reset_counter()
            return
        self._storage.increment_counter()
        if self._storage.counter >= self.config.failure_threshold:
            self._transition(_OPEN, now, reason="consecutive_failures")
        elif self._ratio_tripped(now):
            self._transition(_OPEN, now, reason="failure_ratio")

    def _record_probe(self, outcome: Outcome) -> None:
        self._probes_in_flight -= 1
        if outcome is Outcome.OUTAGE_FAILURE:
            self._transition(_OPEN, self._clock.monotonic(), reason="probe_failed")
        elif outcome is Outcome.NOT_COUNTED:
            self._probes_issued -= 1  # no news: let another probe go
        else:
            self._storage.increment_success_counter()
            if self._storage.success_counter >= self.config.half_open_probes:
                self._transition(_CLOSED, self._clock.monotonic(), reason="probes_succeeded")

    def _ratio_tripped(self, now: float) -> bool:
        calls, failures = self._window.counts(now)
        return calls >= self.config.min_calls and failures >= self.config.failure_ratio * calls

    def _probes_lost(self, now: float) -> bool:
        return (
            self._probes_in_flight > 0 and now - self._first_probe_at >= self.config.probe_timeout
        )

    # -- state, modes, views ------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The state a call would meet now: an open breaker whose reset timeout passed reads as
        half-open. A plain read: the transition itself (with its listeners and publishing) is
        made by ``acquire`` or ``poll``, never here."""
        if self._mode != "auto":
            return "open" if self._mode == "force_open" else "closed"
        state = self._storage.state
        if state == _OPEN and self._open_remaining() <= 0:
            return "half_open"
        return _NAMES[state]

    def poll(self) -> bool:
        """Make the transition that time made due (open -> half-open once the reset timeout
        passed): listeners are told (metrics, the replayer) and it is published. Called where
        no call would make it: the metrics scrape and the admin view. True if it moved."""
        if self._mode != "auto" or self._storage.state != _OPEN or self._open_remaining() > 0:
            return False
        return self._transition(_HALF, self._clock.monotonic(), reason="reset_timeout")

    @property
    def mode(self) -> Mode:
        return self._mode

    def retry_after(self) -> float:
        """Seconds until a call would be permitted (0.0 when it would be now)."""
        state = self.state
        if state == "closed":
            return 0.0
        if self._mode == "force_open":
            return self.config.reset_timeout
        if state == "open":
            return max(0.0, self._open_remaining())
        free = self._probes_issued < self.config.half_open_probes
        return 0.0 if free else _HALF_OPEN_RETRY_AFTER

    def _open_remaining(self) -> float:
        return self.config.reset_timeout - (self._clock.monotonic() - self._opened_mono)

    def set_mode(self, mode: Mode) -> None:
        """auto | force_open (planned maintenance) | force_closed. Leaving force_open for auto
        goes half-open, so the next call probes Zuora."""
        self._set_mode(mode, publish=True)

    def _set_mode(self, mode: Mode, *, publish: bool) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown breaker mode {mode!r}; expected one of {MODES}")
        if mode == self._mode:
            return
        previous, self._mode = self._mode, mode
        now = self._clock.monotonic()
        target = {"force_open": _OPEN, "force_closed": _CLOSED}.get(mode)
        if target is None:
            target = _HALF if previous == "force_open" else _CLOSED
        reason = f"mode_{mode}" if publish else "remote"
        if not self._transition(target, now, reason=reason, publish=False):
            self._new_generation()  # same state: still drop permits of the old mode
        if publish:
            self._announcer.publish(self.record_view)

    def snapshot(self) -> dict[str, Any]:
        """The admin view of this group."""
        state = self.state
        calls, failures = self._window.counts(self._clock.monotonic())
        return {
            "group": self.group,
            "state": state,
            "mode": self._mode,
            "opened_at": self._opened_wall if state != "closed" else None,
            "retry_after": round(self.retry_after(), 3),
            "consecutive_failures": self._storage.counter,
            "window_calls": calls,
            "window_failures": failures,
            "probes_in_flight": self._probes_in_flight,
            "config": asdict(self.config),
        }

    def add_listener(self, listener: TransitionListener) -> None:
        self._announcer.listeners.append(listener)

    # -- shared state (used by BreakerSync) ---------------------------------------------------

    def set_publisher(self, publisher: Callable[[BreakerRecord], None] | None) -> None:
        """Called (synchronously) after every local transition or mode change."""
        self._announcer.publisher = publisher

    def record_view(self) -> BreakerRecord:
        state = _NAMES[self._storage.state]
        opened_at = self._opened_wall if state != "closed" else None
        return BreakerRecord(self.group, state, self._mode, opened_at)

    def apply_remote(self, record: BreakerRecord) -> None:
        """Adopt another process's transition or mode, without publishing it again (logged at
        ``info`` with reason ``remote``; the process that made it logged the ``warning``)."""
        if record.mode != self._mode:
            self._set_mode(record.mode, publish=False)
        if self._mode != "auto":
            return
        state = self._storage.state
        if record.state == "open" and state != _OPEN and record.opened_at is not None:
            age = max(0.0, self._clock.time() - record.opened_at)
            if age < self.config.reset_timeout:
                now = self._clock.monotonic()
                self._transition(
                    _OPEN, now - age, reason="remote", publish=False, opened_wall=record.opened_at
                )
        elif record.state == "closed" and state != _CLOSED:
            self._transition(_CLOSED, self._clock.monotonic(), reason="remote", publish=False)

    # -- transitions --------------------------------------------------------------------------

    def _transition(
        self,
        new: str,
        now: float,
        *,
        reason: str,
        publish: bool = True,
        opened_wall: float | None = None,
    ) -> bool:
        old = self._storage.state
        if old == new:
            return False
        counts = tripped_by(
            reason,
            self.config,
            now,
            window=self._window,
            consecutive=self._storage.counter,
            probes_in_flight=self._probes_in_flight,
            opened_mono=self._opened_mono,
            probes_succeeded=self._storage.success_counter,
        )
        log_transition(self.group, _NAMES[old], _NAMES[new], reason, counts)
        self._new_generation()
        self._probes_issued = self._probes_in_flight = 0
        if new == _OPEN:
            self._opened_mono = now
            self._opened_wall = opened_wall if opened_wall is not None else self._clock.time()
            self._storage.opened_at = dt.datetime.fromtimestamp(self._opened_wall, dt.UTC)
        elif new == _CLOSED:
            self._window.clear()
            self._storage.reset_success_counter()
        self._storage.state = new
        # pybreaker builds its state object, resets its counters and calls its listeners.
        self._cb.state = new
        if publish:
            self._announcer.publish(self.record_view)
        return True

    def _new_generation(self) -> None:
        self._generation += 1
        self._permit = Permit(self._generation, probe=False)
