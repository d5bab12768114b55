"""The scenario file parser: valid files become a Scenario; every problem is named with its
file, line and path, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from zproxy.scenarios.cli import bundled
from zproxy.scenarios.parse import ScenarioError, parse_scenario
from zproxy.scenarios.settings import shipped_config

VALID = """\
name: tiny
description: A tiny scenario.
seed: 3
traffic:
  rate: 10
  accounts: 5
  credentials: 2
  mix: {get_account: 3, update_account: 1}
phases:
  - {name: steady, duration: 2}
  - name: outage
    duration: 2
    faults: [{mode: down}, {mode: slow, latency_ms: 50, scope: reads}]
    admin: {breaker: force_open}
  - {name: recovery, duration: 2, admin: {breaker: auto}}
invariants:
  - no_lost_writes
  - max_drain_seconds: 10
  - min_success_rate: {phase: outage, value: 0.9}
  - beats_baseline: outage
  - max_p99_ms: 500
zproxy:
  settings: {breakers: {defaults: {reset_timeout: 1}}}
  routes: {account: {read: {fresh: 2}}}
"""


def parse(text: str, base_dir: Path = Path(".")) -> object:
    return parse_scenario(
        textwrap.dedent(text), "s.yaml", base_dir=base_dir, base_config=shipped_config()
    )


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse(text)
    return info.value.problems


def test_a_valid_file_becomes_a_scenario() -> None:
    s = parse(VALID)
    from zproxy.scenarios.model import Scenario

    assert isinstance(s, Scenario)
    assert s.duration == 6
    assert s.phase_starts() == [0, 2, 4]
    assert [p.faulted for p in s.phases] == [False, True, False]
    assert s.recovery_at() == 4
    assert s.phase_at(3.9) == 1
    assert s.phase_at(99) == 2
    assert s.phases[1].admin is not None
    assert s.phases[1].admin.breaker == "force_open"
    assert [i.label() for i in s.invariants] == [
        "no_lost_writes",
        "max_drain_seconds value=10",
        "min_success_rate phase=outage value=0.9",
        "beats_baseline phase=outage",
        "max_p99_ms value=500",
    ]
    assert s.routes == {"account": {"read": {"fresh": 2}}}


BAD = [
    # (what to change in VALID, expected problem)
    ("rate: 10", "rate: -1", "s.yaml:5: traffic.rate: must be a number > 0"),
    ("accounts: 5", "accounts: 2.5", "s.yaml:6: traffic.accounts: must be a whole number"),
    ("get_account: 3", "get_acct: 3", "s.yaml:8: traffic.mix.get_acct: unknown request kind"),
    ("update_account: 1", "update_account: -1", "traffic.mix.update_account: weight must be"),
    (
        "{name: steady, duration: 2}",
        "{name: steady, duration: 0}",
        "s.yaml:10: phases[0].duration: must be a number > 0",
    ),
    (
        "{name: steady, duration: 2}",
        "{name: outage, duration: 2}",
        "phases[1].name: duplicate phase name 'outage'",
    ),
    ("{mode: down}", "{mode: sideways}", "s.yaml:13: phases[1].faults[0]: mode must be one of"),
    ("latency_ms: 50", "latency_ms: -5", "phases[1].faults[1]: latency_ms must be a non-negative"),
    ("breaker: force_open", "breaker: shut", "s.yaml:14: phases[1].admin.breaker: must be one of"),
    ("  - no_lost_writes", "  - no_lost_socks", "s.yaml:17: invariants[0]: unknown invariant"),
    (
        "phase: outage, value: 0.9",
        "phase: outage, value: 1.5",
        "invariants[2].min_success_rate.value: must be a number >= 0 <= 1",
    ),
    (
        "beats_baseline: outage",
        "beats_baseline: lunch",
        "invariants[3].beats_baseline.phase: no phase named 'lunch'",
    ),
    (
        "routes: {account:",
        "routes: {acount:",
        "zproxy.routes.acount: no route with this name",
    ),
    (
        "reset_timeout: 1",
        "reset_timeout: -1",
        "s.yaml:23: zproxy.settings.breakers.reads.reset_timeout: must be > 0",
    ),
    ("seed: 3", "seed: 3\ncolour: blue", "s.yaml:4: colour: unknown key"),
    ("name: tiny", "name: ''", "s.yaml:1: name: is required"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD)
def test_each_problem_is_named_with_its_location(old: str, new: str, expected: str) -> None:
    assert old in VALID
    found = problems(VALID.replace(old, new, 1))
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = VALID.replace("rate: 10", "rate: 0").replace("{mode: down}", "{mode: nope}")
    text = text.replace("  - no_lost_writes", "  - nonsense")
    found = problems(text)
    assert len(found) == 3, found
    assert [p.split(":")[1] for p in found] == ["5", "13", "17"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed", "s.yaml:1: not valid YAML"),
        ("- a list", "(top): must be a mapping"),
        (
            "name: x\ndescription: y\ntraffic: {rate: 1}\nphases: []",
            "traffic: needs exactly one of `mix`",
        ),
        (
            "name: x\ndescription: y\ntraffic: {rate: 1, mix: {}}\nphases: []",
            "phases: must be a non-empty list",
        ),
        (
            "name: x\ndescription: y\ntraffic: {rate: 1, recorded: nope.jsonl}\n"
            "phases: [{name: a, duration: 1}]",
            "traffic.recorded: no such file",
        ),
        (
            "name: x\ndescription: y\ntraffic: {rate: 2000, mix: {catalog: 1}}\n"
            "phases: [{name: a, duration: 3600}]",
            "traffic.rate: rate x duration",
        ),
    ],
)
def test_structural_problems(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_fault_and_faults_are_exclusive_and_rules_always_stack() -> None:
    text = VALID.replace(
        "faults: [{mode: down}, {mode: slow, latency_ms: 50, scope: reads}]",
        "faults: [{mode: down, add: true}]\n    fault: {mode: down}",
    )
    found = problems(text)
    assert any("give `fault` (one rule) or `faults`" in p for p in found), found


def test_every_bundled_scenario_is_valid() -> None:
    files = bundled()
    assert {f.name for f in files} >= {
        "zuora-outage-2022-11-27.yaml",
        "zuora-outage-2024-09-04.yaml",
        "flapping-zuora.yaml",
        "slow-zuora.yaml",
        "rate-limit-429-storm.yaml",
        "planned-maintenance.yaml",
        "writes-blocked-2026.yaml",
        "redis-restart-mid-outage.yaml",
        "flaky-and-429.yaml",
        "timeouts.yaml",
    }
    for path in files:
        scenario = parse_scenario(
            path.read_text(), str(path), base_dir=path.parent, base_config=shipped_config()
        )
        assert scenario.invariants, path
        assert "time-compressed" in scenario.description, path
        # Two runs plus start-up must fit well inside a minute.
        assert scenario.duration <= 25, path
