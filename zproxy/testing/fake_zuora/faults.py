"""Fault modes, their scopes, and the timeline that schedules them.

A pure decision: given a request's method, path and route groups and the monotonic time,
``FaultController.plan`` says which fault acts at which stage. The HTTP pipeline executes it.

Stages, in the order a request meets them:
  front       before auth: ``down``, ``writes_down``, ``auth_down``, ``flaky``, ``ratelimit``,
              ``reset``
  processing  after auth, concurrency and idempotency checks: ``slow``, ``timeout``
  lock        writes only, before the write is applied: ``lock_competition``
  post        after the write is applied: ``reset_after_apply``

Rules are consulted newest first (the current timeline phase before static rules); a matching
``up`` rule stops the search, so it shadows every older rule on its scope. Per stage the first
matching rule acts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

FRONT = frozenset({"down", "writes_down", "auth_down", "flaky", "ratelimit", "reset"})
PROCESSING = frozenset({"slow", "timeout"})
MODES = FRONT | PROCESSING | {"up", "lock_competition", "reset_after_apply"}
GROUPS = frozenset({"all", "reads", "writes", "auth", "zoql"})
DISTRIBUTIONS = frozenset({"fixed", "uniform", "normal", "exponential"})
#: Modes whose own meaning narrows the scope to one group.
_IMPLIED_GROUP = {"writes_down": "writes", "auth_down": "auth", "lock_competition": "writes"}


class FaultSpecError(ValueError):
    """A fault or timeline body the control API cannot accept."""


@dataclass(frozen=True, slots=True)
class RequestInfo:
    method: str
    path: str
    groups: frozenset[str]


@dataclass(frozen=True, slots=True)
class FaultRule:
    mode: str
    scope: str = "all"
    #: Fraction of matching requests the fault hits (seeded RNG); ``flaky`` defaults to 0.5.
    rate: float = 1.0
    #: HTTP status for ``down``/``flaky``/``writes_down``/``auth_down`` (503) and
    #: ``lock_competition`` (200: Zuora's business-error style).
    status: int = 503
    retry_after: int = 1
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    distribution: str = "fixed"
    #: ``lock_competition`` only: fail only while another write to the same account is in flight.
    concurrent_only: bool = False

    def matches(self, req: RequestInfo) -> bool:
        implied = _IMPLIED_GROUP.get(self.mode)
        if implied is not None and implied not in req.groups:
            return False
        if self.scope == "all":
            return True
        if self.scope.startswith("/"):
            return req.path.startswith(self.scope)
        return self.scope in req.groups

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Phase:
    rules: tuple[FaultRule, ...]
    duration: float | None

    def to_json(self) -> dict[str, Any]:
        return {"duration": self.duration, "faults": [r.to_json() for r in self.rules]}


@dataclass(slots=True)
class FaultPlan:
    front: FaultRule | None = None
    processing: FaultRule | None = None
    lock: FaultRule | None = None
    post: FaultRule | None = None
    #: Seconds to add in the processing stage (``slow``), already drawn.
    latency: float = 0.0


_INT_FIELDS = ("status", "retry_after")
_FLOAT_FIELDS = ("rate", "latency_ms", "jitter_ms")


def parse_rule(data: Mapping[str, Any]) -> FaultRule:
    """A rule from a control-API body, e.g. ``{"mode": "slow", "latency_ms": 50}``."""
    mode = data.get("mode")
    if mode not in MODES:
        raise FaultSpecError(f"mode must be one of {sorted(MODES)}")
    scope = data.get("scope", "all")
    if not isinstance(scope, str) or not (scope in GROUPS or scope.startswith("/")):
        raise FaultSpecError(f"scope must be one of {sorted(GROUPS)} or a path prefix")
    kwargs: dict[str, Any] = {"mode": mode, "scope": scope}
    if mode == "flaky":
        kwargs["rate"] = 0.5
    if mode == "lock_competition":
        kwargs["status"] = 200
    for name in _INT_FIELDS + _FLOAT_FIELDS:
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise FaultSpecError(f"{name} must be a non-negative number")
            kwargs[name] = int(value) if name in _INT_FIELDS else float(value)
    if not 0.0 <= kwargs.get("rate", 1.0) <= 1.0:
        raise FaultSpecError("rate must be between 0 and 1")
    if "latency_ms" in data and "distribution" not in data and kwargs.get("jitter_ms"):
        kwargs["distribution"] = "uniform"
    if "distribution" in data:
        if data["distribution"] not in DISTRIBUTIONS:
            raise FaultSpecError(f"distribution must be one of {sorted(DISTRIBUTIONS)}")
        kwargs["distribution"] = data["distribution"]
    kwargs["concurrent_only"] = bool(data.get("concurrent_only", False))
    return FaultRule(**kwargs)


def parse_phase(data: Mapping[str, Any]) -> Phase:
    """``{"mode": ..., "duration": 2.0, ...}`` or ``{"faults": [rule, ...], "duration": 2.0}``."""
    duration = data.get("duration")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
    ):
        raise FaultSpecError("duration must be a positive number of seconds")
    faults = data.get("faults")
    if faults is None:
        rules: tuple[FaultRule, ...] = (parse_rule(data),)
    elif isinstance(faults, list) and all(isinstance(f, Mapping) for f in faults):
        rules = tuple(parse_rule(f) for f in faults)
    else:
        raise FaultSpecError("faults must be a list of fault objects")
    return Phase(rules, None if duration is None else float(duration))


@dataclass(slots=True)
class Timeline:
    phases: tuple[Phase, ...]
    started_at: float

    def current(self, now: float) -> tuple[int, Phase | None]:
        """The phase running at ``now``; (len(phases), None) once every timed phase is over."""
        elapsed = now - self.started_at
        for index, phase in enumerate(self.phases):
            if phase.duration is None or elapsed < phase.duration:
                return index, phase
            elapsed -= phase.duration
        return len(self.phases), None


@dataclass(slots=True)
class FaultController:
    """Static rules plus an optional timeline; draws rates and latencies from a seeded RNG."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    timeline: Timeline | None = None
    rng: random.Random = field(init=False)
    #: Bumped whenever faults change; held requests compare it to know they were released.
    generation: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reset(self) -> None:
        self.rules.clear()
        self.timeline = None
        self.rng = random.Random(self.seed)
        self.generation += 1

    def set_rule(self, rule: FaultRule, *, add: bool = False) -> None:
        """Install ``rule``; it replaces older rules on the same scope unless ``add``.

        ``up`` on ``all`` clears every rule and the timeline.
        """
        self.generation += 1
        if rule.mode == "up" and rule.scope == "all":
            self.rules.clear()
            self.timeline = None
            return
        if not add:
            self.rules = [r for r in self.rules if r.scope != rule.scope]
        self.rules.append(rule)

    def set_timeline(self, phases: Sequence[Phase], now: float) -> None:
        self.generation += 1
        self.timeline = Timeline(tuple(phases), now)

    def active_rules(self, now: float) -> list[FaultRule]:
        """Newest first: the current timeline phase, then static rules."""
        rules: list[FaultRule] = []
        if self.timeline is not None:
            _, phase = self.timeline.current(now)
            if phase is not None:
                rules.extend(phase.rules)
        rules.extend(reversed(self.rules))
        return rules

    def plan(self, req: RequestInfo, now: float) -> FaultPlan:
        plan = FaultPlan()
        for rule in self.active_rules(now):
            if not rule.matches(req):
                continue
            if rule.mode == "up":
                break
            self._place(plan, rule)
        return plan

    def _place(self, plan: FaultPlan, rule: FaultRule) -> None:
        if rule.mode in FRONT:
            if plan.front is None and self._hit(rule):
                plan.front = rule
        elif rule.mode in PROCESSING:
            if plan.processing is None and self._hit(rule):
                plan.processing = rule
                if rule.mode == "slow":
                    plan.latency = self._latency(rule)
        elif rule.mode == "lock_competition":
            if plan.lock is None and self._hit(rule):
                plan.lock = rule
        elif plan.post is None and self._hit(rule):
            plan.post = rule

    def _hit(self, rule: FaultRule) -> bool:
        return rule.rate >= 1.0 or self.rng.random() < rule.rate

    def _latency(self, rule: FaultRule) -> float:
        mean, spread = rule.latency_ms, rule.jitter_ms
        if rule.distribution == "uniform":
            ms = self.rng.uniform(mean - spread, mean + spread)
        elif rule.distribution == "normal":
            ms = self.rng.gauss(mean, spread)
        elif rule.distribution == "exponential":
            ms = self.rng.expovariate(1.0 / mean) if mean > 0 else 0.0
        else:
            ms = mean
        return max(ms, 0.0) / 1000.0

    def describe(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"rules": [r.to_json() for r in self.rules], "timeline": None}
        if self.timeline is not None:
            index, _ = self.timeline.current(now)
            out["timeline"] = {
                "phases": [p.to_json() for p in self.timeline.phases],
                "elapsed": now - self.timeline.started_at,
                "phase": index,
                "finished": index >= len(self.timeline.phases),
            }
        return out
