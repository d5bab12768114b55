"""Scenario YAML -> ``Scenario``, collecting every problem with its location (pure but for
reading a recorded traffic file's existence).

Problems read ``FILE:LINE: path: message``, like ``check-config``. ``ScenarioError`` carries
them all; nothing is half-accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from zproxy.scenarios import model as m
from zproxy.scenarios.settings import merged_config, validate_config
from zproxy.scenarios.yaml_lines import Located, load_located
from zproxy.testing.fake_zuora.faults import FaultSpecError, parse_rule
from zproxy.upstream.breaker_model import MODES

TOP_KEYS = frozenset(
    {"name", "description", "seed", "traffic", "phases", "invariants"}
    | {"drain_timeout", "warmup", "zproxy", "time_scale"}
)
TRAFFIC_KEYS = frozenset(
    {"rate", "accounts", "credentials", "mix", "recorded", "recording", "timeout", "slo_ms"}
)
PHASE_KEYS = frozenset({"name", "duration", "faults", "fault", "admin", "redis"})
REDIS_ACTIONS = ("restart", "stop", "start")
MAX_REQUESTS = 100_000


class ScenarioError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Checker:
    def __init__(self, origin: str, located: Located) -> None:
        self.origin = origin
        self.located = located
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        line = self.located.line_of(path)
        where = f"{self.origin}:{line}" if line is not None else self.origin
        self.problems.append(f"{where}: {path or '(top)'}: {message}")

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.fail(path, "must be a mapping")
        return {}

    def unknown(self, raw: Mapping[str, Any], known: frozenset[str], path: str) -> None:
        for key in raw:
            if key not in known:
                self.fail(f"{path}.{key}" if path else str(key), "unknown key")

    def text(self, raw: Mapping[str, Any], path: str, key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(_join(path, key), "is required and must be a non-empty string")
            return ""
        return value.strip()

    def number(
        self,
        raw: Mapping[str, Any],
        path: str,
        key: str,
        default: float | None,
        *,
        low: float = 0.0,
        high: float = float("inf"),
        integer: bool = False,
        zero_ok: bool = False,
    ) -> float:
        value = raw.get(key, default)
        ok = not isinstance(value, bool) and isinstance(value, int if integer else int | float)
        above = ok and (float(value) >= low if zero_ok else float(value) > low)
        if value is None or not above or not float(value) <= high:
            kind = "a whole number" if integer else "a number"
            bound = f" <= {high:g}" if high != float("inf") else ""
            cmp = ">=" if zero_ok else ">"
            self.fail(_join(path, key), f"must be {kind} {cmp} {low:g}{bound} (got {value!r})")
            return float(default or 1)
        return float(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load_scenario(path: Path, base_config: Mapping[str, Any]) -> m.Scenario:
    """Read and validate ``path``; raise ``ScenarioError`` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read ({exc.strerror})"]) from None
    return parse_scenario(text, str(path), base_dir=path.parent, base_config=base_config)


def parse_scenario(
    text: str, origin: str, *, base_dir: Path, base_config: Mapping[str, Any]
) -> m.Scenario:
    try:
        located = load_located(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}" if mark else origin
        raise ScenarioError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    c = _Checker(origin, located)
    raw = c.mapping(located.data, "")
    c.unknown(raw, TOP_KEYS, "")
    name, description = c.text(raw, "", "name"), c.text(raw, "", "description")
    seed = int(c.number(raw, "", "seed", 0, integer=True, zero_ok=True))
    scale = c.number(raw, "", "time_scale", 1.0, high=1000)
    traffic = _traffic(c, raw.get("traffic"), base_dir)
    phases = [
        m.PhaseSpec(p.name, round(p.duration * scale, 6), p.faults, p.admin, p.redis)
        for p in _phases(c, raw.get("phases"))
    ]
    invariants = _invariants(c, raw.get("invariants", []), {p.name for p in phases})
    drain = c.number(raw, "", "drain_timeout", 30.0, high=3600)
    warmup = raw.get("warmup", True)
    if not isinstance(warmup, bool):
        c.fail("warmup", "must be true or false")
    settings, routes = _zproxy(c, raw.get("zproxy", {}), base_config)
    total = traffic.rate * sum(p.duration for p in phases)
    if traffic.recorded is None and total > MAX_REQUESTS:
        c.fail("traffic.rate", f"rate x duration is {total:.0f} requests (max {MAX_REQUESTS})")
    if c.problems:
        raise ScenarioError(c.problems)
    return m.Scenario(
        name=name,
        description=description,
        traffic=traffic,
        phases=tuple(phases),
        invariants=tuple(invariants),
        seed=seed,
        drain_timeout=drain,
        warmup=bool(warmup),
        settings=settings,
        routes=routes,
        source=Path(origin),
        time_scale=scale,
    )


def _traffic(c: _Checker, value: Any, base_dir: Path) -> m.Traffic:
    raw = c.mapping(value, "traffic")
    c.unknown(raw, TRAFFIC_KEYS, "traffic")
    mix: dict[str, float] = {}
    recorded: Path | None = None
    # ``recording`` (a ``zproxy serve --record`` file) and the older ``recorded`` are one key.
    key = "recording" if "recording" in raw else "recorded"
    if ("mix" in raw) + ("recorded" in raw) + ("recording" in raw) != 1:
        c.fail("traffic", "needs exactly one of `mix` (weights by request kind) or `recording`")
    if "mix" in raw:
        mix = _mix(c, raw["mix"])
    if key in raw:
        if isinstance(raw[key], str) and raw[key]:
            recorded = (base_dir / raw[key]).resolve()
            if not recorded.is_file():
                c.fail(f"traffic.{key}", f"no such file: {recorded}")
        else:
            c.fail(f"traffic.{key}", "must be a file path (JSON lines)")
    return m.Traffic(
        rate=c.number(raw, "traffic", "rate", 10.0 if recorded else None, high=2000),
        accounts=int(c.number(raw, "traffic", "accounts", 20, high=50, integer=True)),
        credentials=int(c.number(raw, "traffic", "credentials", 3, high=100, integer=True)),
        mix=mix,
        recorded=recorded,
        timeout=c.number(raw, "traffic", "timeout", 5.0, high=300),
        slo_ms=c.number(raw, "traffic", "slo_ms", 2000.0),
    )


def _mix(c: _Checker, value: Any) -> dict[str, float]:
    raw = c.mapping(value, "traffic.mix")
    out: dict[str, float] = {}
    for kind, weight in raw.items():
        path = f"traffic.mix.{kind}"
        if kind not in m.KINDS:
            c.fail(path, f"unknown request kind; one of {', '.join(m.KINDS)}")
        elif isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            c.fail(path, f"weight must be a number >= 0 (got {weight!r})")
        else:
            out[str(kind)] = float(weight)
    if raw and not any(out.values()) and len(out) == len(raw):
        c.fail("traffic.mix", "at least one weight must be > 0")
    return out


def _phases(c: _Checker, value: Any) -> list[m.PhaseSpec]:
    if not isinstance(value, list) or not value:
        c.fail("phases", "must be a non-empty list of phases")
        return []
    phases: list[m.PhaseSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        path = f"phases[{index}]"
        raw = c.mapping(item, path)
        c.unknown(raw, PHASE_KEYS, path)
        name = c.text(raw, path, "name")
        if name in seen:
            c.fail(f"{path}.name", f"duplicate phase name {name!r}")
        seen.add(name)
        duration = c.number(raw, path, "duration", None, high=604800)
        faults = _faults(c, raw, path)
        admin = _admin(c, raw["admin"], f"{path}.admin") if "admin" in raw else None
        redis = raw.get("redis")
        if redis is not None and redis not in REDIS_ACTIONS:
            c.fail(f"{path}.redis", f"must be one of {', '.join(REDIS_ACTIONS)} (got {redis!r})")
            redis = None
        phases.append(m.PhaseSpec(name, duration, faults, admin, redis))
    return phases


def _faults(c: _Checker, raw: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any], ...]:
    if "fault" in raw and "faults" in raw:
        c.fail(path, "give `fault` (one rule) or `faults` (a list), not both")
    items: Any = [raw["fault"]] if "fault" in raw else raw.get("faults", [])
    key = "fault" if "fault" in raw else "faults"
    if not isinstance(items, list):
        c.fail(f"{path}.{key}", "must be a list of fault rules")
        return ()
    rules: list[Mapping[str, Any]] = []
    for index, rule in enumerate(items):
        where = f"{path}.{key}" if key == "fault" else f"{path}.{key}[{index}]"
        if not isinstance(rule, Mapping):
            c.fail(where, "must be a mapping such as {mode: down}")
            continue
        try:
            parse_rule(rule)
        except FaultSpecError as exc:
            c.fail(where, str(exc))
            continue
        if "add" in rule:
            c.fail(f"{where}.add", "not allowed: the rules of a phase always stack")
        rules.append(dict(rule))
    return tuple(rules)


def _admin(c: _Checker, value: Any, path: str) -> m.AdminAction | None:
    raw = c.mapping(value, path)
    c.unknown(raw, frozenset({"breaker", "group"}), path)
    mode = raw.get("breaker")
    if mode not in MODES:
        c.fail(f"{path}.breaker", f"must be one of {', '.join(MODES)} (got {mode!r})")
        return None
    group = raw.get("group")
    if group is not None and not isinstance(group, str):
        c.fail(f"{path}.group", "must be a breaker group name")
        return None
    return m.AdminAction(mode, group)


def _invariants(c: _Checker, value: Any, phases: set[str]) -> list[m.Invariant]:
    if not isinstance(value, list):
        c.fail("invariants", "must be a list")
        return []
    out: list[m.Invariant] = []
    for index, item in enumerate(value):
        path = f"invariants[{index}]"
        if isinstance(item, str):
            name, arg = item, None
        elif isinstance(item, Mapping) and len(item) == 1:
            name, arg = next(iter(item.items()))
            name = str(name)
        else:
            c.fail(path, "must be a name or a one-key mapping such as {max_drain_seconds: 30}")
            continue
        parsed = _invariant(c, path, name, arg, phases)
        if parsed is not None:
            out.append(parsed)
    return out


def _invariant(c: _Checker, path: str, name: str, arg: Any, phases: set[str]) -> m.Invariant | None:
    if name not in m.INVARIANTS:
        c.fail(path, f"unknown invariant {name!r}; one of {', '.join(m.INVARIANTS)}")
        return None
    where = f"{path}.{name}"
    if name in m.FLAG_INVARIANTS:
        if arg not in (None, True):
            c.fail(where, "takes no argument")
        return m.Invariant(name)
    if name in m.NUMBER_INVARIANTS:
        return m.Invariant(name, value=c.number({name: arg}, path, name, None, zero_ok=True))
    if name == "beats_baseline" and isinstance(arg, str):
        arg = {"phase": arg}
    if not isinstance(arg, Mapping):
        arg = {"value": arg}
    c.unknown(arg, frozenset({"phase", "value"}), where)
    phase = arg.get("phase")
    if phase is not None and phase not in phases and phase != "all":
        c.fail(f"{where}.phase", f"no phase named {phase!r}")
    value: float | None = None
    if name == "min_success_rate":
        value = c.number(arg, where, "value", None, high=1.0, zero_ok=True)
    elif name == "max_p99_ms":
        value = c.number(arg, where, "value", None)
    return m.Invariant(name, None if phase in (None, "all") else str(phase), value)


def _zproxy(
    c: _Checker, value: Any, base: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    raw = c.mapping(value, "zproxy")
    c.unknown(raw, frozenset({"settings", "routes"}), "zproxy")
    settings = dict(c.mapping(raw.get("settings", {}), "zproxy.settings"))
    routes_raw = c.mapping(raw.get("routes", {}), "zproxy.routes")
    known = {str(r.get("name")) for r in base.get("routes", []) if isinstance(r, Mapping)}
    routes: dict[str, dict[str, Any]] = {}
    for name, patch in routes_raw.items():
        if name not in known:
            c.fail(f"zproxy.routes.{name}", "no route with this name in config/zproxy.yaml")
        elif isinstance(patch, Mapping):
            routes[str(name)] = dict(patch)
        else:
            c.fail(f"zproxy.routes.{name}", "must be a mapping (a patch of the route)")
    for problem in validate_config(merged_config(base, settings, routes)):
        # "settings: breakers.reads.fail_max: must be ..." -> located under zproxy.settings
        where, _, message = problem.removeprefix("settings: ").partition(": ")
        prefix = "zproxy." if where.startswith("routes.") else "zproxy.settings."
        c.fail(prefix + where, message or problem)
    return settings, routes
