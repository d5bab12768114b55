"""The breaker's vocabulary: settings, modes and states, the permit a call holds, the refusal
and its error, the record processes share, and the listener contract. No behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from zproxy.errors import UpstreamConnectError

Mode = Literal["auto", "force_open", "force_closed"]
State = Literal["closed", "half_open", "open"]
MODES: tuple[Mode, ...] = ("auto", "force_open", "force_closed")
DEFAULT_GROUPS: tuple[str, ...] = ("reads", "writes")


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
