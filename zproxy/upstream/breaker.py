"""Circuit breakers per route group: pybreaker's state storage and listener contract, our clock.

pybreaker decides timing with the wall clock and its ``call_async`` is Tornado-only, so we do
not let it run calls. Each ``Breaker`` keeps a ``pybreaker.CircuitBreaker`` with a
``CircuitMemoryStorage`` as the record of state, counters and ``opened_at``, and moves it
with pybreaker's own state objects so its listener contract (``state_change``) fires; every
timing decision reads the injected ``Clock``.

Use: decide under no await, then do the I/O::

    permit = breaker.acquire()            # O(1), no await
    if isinstance(permit, Rejected):      # open: answer 503 / serve stale
        raise permit.to_error()
    try:
        response = await send(...)
    finally:
        breaker.record(permit, classify_outcome(status, error))

Every permit must be recorded exactly once (``Outcome.NOT_COUNTED`` when nothing was learnt,
e.g. on cancellation), or a half-open probe slot stays taken until ``probe_timeout``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import pybreaker
import structlog

from zproxy.clock import Clock
from zproxy.errors import UpstreamConnectError
from zproxy.policy.outcomes import Outcome, SlidingCounts

log = structlog.get_logger("zproxy.upstream.breaker")

Mode = Literal["auto", "force_open", "force_closed"]
State = Literal["closed", "half_open", "open"]
MODES: tuple[Mode, ...] = ("auto", "force_open", "force_closed")
DEFAULT_GROUPS: tuple[str, ...] = ("reads", "writes")

_CLOSED, _OPEN, _HALF = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN
_NAMES: dict[str, State] = {_CLOSED: "closed", _OPEN: "open", _HALF: "half_open"}
#: Retry-After while half-open probes are in flight: their answer is due soon.
_HALF_OPEN_RETRY_AFTER = 1.0


class TransitionListener(Protocol):
    """Told of every state change of a group (local or adopted from another process)."""

    def on_transition(self, group: str, old: str, new: str) -> None: ...


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """One group's breaker settings; every duration in seconds."""

    failure_threshold: int = 5  # consecutive outage failures that open
    failure_ratio: float = 0.5  # ... or this share of failures in the window
    ratio_window: float = 10.0
    min_calls: int = 10  # ... once the window holds at least this many calls
    reset_timeout: float = 10.0  # open -> half-open after this long
    half_open_probes: int = 1  # calls let through while half-open
    probe_timeout: float = 30.0  # a probe not recorded by then counts as failed
    window_buckets: int = 10

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be > 0"
            for name in (
                "failure_threshold",
                "ratio_window",
                "min_calls",
                "reset_timeout",
                "half_open_probes",
                "probe_timeout",
                "window_buckets",
            )
            if not getattr(self, name) > 0
        ]
        if not 0.0 < self.failure_ratio <= 1.0:
            problems.append("failure_ratio must be in (0, 1]")
        if problems:
            raise ValueError("BreakerConfig: " + "; ".join(problems))


class Permit:
    """Leave to make one upstream call; hand it back to ``Breaker.record``."""

    __slots__ = ("generation", "probe")

    def __init__(self, generation: int, probe: bool) -> None:
        self.generation = generation
        self.probe = probe


class BreakerOpen(UpstreamConnectError):
    """The breaker refused the call: nothing was sent (503 + Retry-After)."""

    def __init__(self, group: str, retry_after: float) -> None:
        super().__init__(f"Zuora is unavailable ({group} circuit open); retry later")
        self.group = group
        self.retry_after = retry_after


class Rejected:
    """The breaker's refusal: ``retry_after`` is the time until the next probe may go."""

    __slots__ = ("group", "retry_after", "state")

    def __init__(self, group: str, state: State, retry_after: float) -> None:
        self.group = group
        self.state = state
        self.retry_after = retry_after

    def to_error(self) -> BreakerOpen:
        return BreakerOpen(self.group, self.retry_after)


@dataclass(frozen=True, slots=True)
class BreakerRecord:
    """What processes share about a group (see ``breaker_sync``); ``opened_at`` is wall time."""

    group: str
    state: State
    mode: Mode
    opened_at: float | None


class _Bridge(pybreaker.CircuitBreakerListener):
    """pybreaker's listener contract -> our ``on_transition(group, old, new)``."""

    def __init__(self, breaker: Breaker) -> None:
        self._breaker = breaker

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        old = _NAMES[old_state.name] if old_state is not None else "closed"
        self._breaker._notify(old, _NAMES[new_state.name])


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
        self._listeners = list(listeners)
        self._storage = pybreaker.CircuitMemoryStorage(_CLOSED)
        self._cb = pybreaker.CircuitBreaker(
            fail_max=config.failure_threshold,
            reset_timeout=config.reset_timeout,
            success_threshold=config.half_open_probes,
            listeners=[_Bridge(self)],
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
        self._publisher: Callable[[BreakerRecord], None] | None = None

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
            self._transition(_HALF, now)
        elif self._probes_lost(now):
            self._transition(_OPEN, now)
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
        if self._storage.counter >= self.config.failure_threshold or self._ratio_tripped(now):
            self._transition(_OPEN, now)

    def _record_probe(self, outcome: Outcome) -> None:
        self._probes_in_flight -= 1
        if outcome is Outcome.OUTAGE_FAILURE:
            self._transition(_OPEN, self._clock.monotonic())
        elif outcome is Outcome.NOT_COUNTED:
            self._probes_issued -= 1  # no news: let another probe go
        else:
            self._storage.increment_success_counter()
            if self._storage.success_counter >= self.config.half_open_probes:
                self._transition(_CLOSED, self._clock.monotonic())

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
        return self._transition(_HALF, self._clock.monotonic())

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
        if not self._transition(target, now, publish=False):
            self._new_generation()  # same state: still drop permits of the old mode
        if publish:
            self._publish()

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
        self._listeners.append(listener)

    # -- shared state (used by BreakerSync) ---------------------------------------------------

    def set_publisher(self, publisher: Callable[[BreakerRecord], None] | None) -> None:
        """Called (synchronously) after every local transition or mode change."""
        self._publisher = publisher

    def record_view(self) -> BreakerRecord:
        state = _NAMES[self._storage.state]
        opened_at = self._opened_wall if state != "closed" else None
        return BreakerRecord(self.group, state, self._mode, opened_at)

    def apply_remote(self, record: BreakerRecord) -> None:
        """Adopt another process's transition or mode, without publishing it again."""
        if record.mode != self._mode:
            self._set_mode(record.mode, publish=False)
        if self._mode != "auto":
            return
        state = self._storage.state
        if record.state == "open" and state != _OPEN and record.opened_at is not None:
            age = max(0.0, self._clock.time() - record.opened_at)
            if age < self.config.reset_timeout:
                now = self._clock.monotonic()
                self._transition(_OPEN, now - age, publish=False, opened_wall=record.opened_at)
        elif record.state == "closed" and state != _CLOSED:
            self._transition(_CLOSED, self._clock.monotonic(), publish=False)

    # -- transitions --------------------------------------------------------------------------

    def _transition(
        self, new: str, now: float, *, publish: bool = True, opened_wall: float | None = None
    ) -> bool:
        if self._storage.state == new:
            return False
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
            self._publish()
        return True

    def _new_generation(self) -> None:
        self._generation += 1
        self._permit = Permit(self._generation, probe=False)

    def _publish(self) -> None:
        if self._publisher is None:
            return
        try:
            self._publisher(self.record_view())
        except Exception:
            log.exception("breaker_publish_failed", group=self.group)

    def _notify(self, old: str, new: str) -> None:
        for listener in self._listeners:
            try:
                listener.on_transition(self.group, old, new)
            except Exception:
                log.exception("breaker_listener_failed", group=self.group)


class BreakerSet:
    """Named breakers, one per route group ("reads" and "writes" unless configured otherwise)."""

    def __init__(
        self,
        clock: Clock,
        configs: Mapping[str, BreakerConfig] | None = None,
        listeners: Iterable[TransitionListener] = (),
    ) -> None:
        self.clock = clock
        merged = {group: BreakerConfig() for group in DEFAULT_GROUPS}
        merged.update(configs or {})
        listeners = list(listeners)
        self._breakers = {
            group: Breaker(group, config, clock, listeners) for group, config in merged.items()
        }

    def __getitem__(self, group: str) -> Breaker:
        return self._breakers[group]

    def __contains__(self, group: object) -> bool:
        return group in self._breakers

    def __iter__(self) -> Iterator[Breaker]:
        return iter(self._breakers.values())

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self._breakers)

    def set_mode(self, mode: Mode, group: str | None = None) -> None:
        """Set one group's mode, or every group's when ``group`` is None (the admin API)."""
        targets = [self._breakers[group]] if group is not None else list(self)
        for breaker in targets:
            breaker.set_mode(mode)

    def poll(self) -> None:
        """Every group's due transition (see ``Breaker.poll``)."""
        for breaker in self:
            breaker.poll()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The admin view: due transitions are made first, so what it shows is also what the
        listeners (metrics) and the other processes were told."""
        self.poll()
        return {group: breaker.snapshot() for group, breaker in self._breakers.items()}

    def add_listener(self, listener: TransitionListener) -> None:
        for breaker in self:
            breaker.add_listener(listener)
