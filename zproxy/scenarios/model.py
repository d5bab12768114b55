"""The typed scenario: what traffic to send, which faults to apply when, what must hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: Request kinds a mix may weigh; ``traffic.plan_http`` gives each its HTTP form.
READ_KINDS = ("get_account", "get_summary", "list_subscriptions", "catalog", "zoql_query")
WRITE_KINDS = ("update_account", "create_order", "payment")
KINDS = READ_KINDS + WRITE_KINDS

#: Invariants that take no argument / a number / ``{phase, value}``.
FLAG_INVARIANTS = (
    "no_lost_writes",
    "no_duplicate_writes",
    "per_account_order",
    "no_dead_writes",
)
NUMBER_INVARIANTS = ("max_drain_seconds",)
PHASE_INVARIANTS = ("min_success_rate", "max_p99_ms", "beats_baseline")
INVARIANTS = FLAG_INVARIANTS + NUMBER_INVARIANTS + PHASE_INVARIANTS

AdminMode = Literal["auto", "force_open", "force_closed"]
#: Step kinds on zproxy's Redis at a phase start (the baseline has no Redis: ignored there).
RedisAction = Literal["restart", "stop", "start"]


@dataclass(frozen=True, slots=True)
class Traffic:
    """Synthetic traffic (``mix``) or a recorded file (``recorded``); exactly one is set."""

    rate: float
    accounts: int = 20
    credentials: int = 3
    mix: Mapping[str, float] = field(default_factory=dict)
    recorded: Path | None = None
    #: Client timeout per request, seconds (CustomersDot gives up after this).
    timeout: float = 5.0
    #: A 2xx slower than this is not "good" (reliability-security §5: within the latency SLO).
    slo_ms: float = 2000.0


@dataclass(frozen=True, slots=True)
class AdminAction:
    """An operator action on zproxy's admin API at a phase start (planned maintenance)."""

    breaker: AdminMode
    group: str | None = None


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    name: str
    duration: float
    #: Fault rules as the fake's ``/__fake/fault`` accepts them; empty = Zuora is up.
    faults: tuple[Mapping[str, Any], ...] = ()
    admin: AdminAction | None = None
    redis: RedisAction | None = None

    @property
    def faulted(self) -> bool:
        """Zuora (or the operator) makes this phase an outage of some kind."""
        return (
            any(f.get("mode") != "up" for f in self.faults)
            or (self.admin is not None and self.admin.breaker == "force_open")
            or self.redis == "stop"
        )


@dataclass(frozen=True, slots=True)
class Invariant:
    name: str
    #: ``min_success_rate``/``max_p99_ms``/``beats_baseline``: a phase name or ``None`` (all).
    phase: str | None = None
    value: float | None = None

    def label(self) -> str:
        parts = [self.name]
        if self.phase is not None:
            parts.append(f"phase={self.phase}")
        if self.value is not None:
            parts.append(f"value={self.value:g}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    traffic: Traffic
    phases: tuple[PhaseSpec, ...]
    invariants: tuple[Invariant, ...] = ()
    seed: int = 0
    drain_timeout: float = 30.0
    #: Warm the cache before the timeline: one GET of every read target per credential.
    warmup: bool = True
    #: Merged over the shipped ``config/zproxy.yaml`` (time-compressed windows, timeouts).
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: Per-route patches by route name, e.g. ``{"account": {"read": {"fresh": 2}}}``.
    routes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: Path | None = None
    #: Played seconds per real second: phase durations in the file are real (incident) time
    #: and are played multiplied by this, as are a recording's offsets. The error budget is
    #: counted in real time (played seconds / time_scale).
    time_scale: float = 1.0

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases)

    def phase_starts(self) -> list[float]:
        starts, t = [], 0.0
        for phase in self.phases:
            starts.append(t)
            t += phase.duration
        return starts

    def phase_at(self, t: float) -> int:
        """Index of the phase running at offset ``t`` (the last one for t past the end)."""
        for index, start in enumerate(self.phase_starts()):
            if t < start + self.phases[index].duration:
                return index
        return len(self.phases) - 1

    def recovery_at(self) -> float:
        """Offset where the last faulted phase ends (0 when nothing is faulted)."""
        end, t = 0.0, 0.0
        for phase in self.phases:
            t += phase.duration
            if phase.faulted:
                end = t
        return end
