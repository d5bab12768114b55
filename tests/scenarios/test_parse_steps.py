"""Scenario keys of issue 11: ``time_scale`` (phases in real incident seconds), a recording as
traffic (``recording:``, or ``--traffic`` on the command line), and the ``redis`` step."""

from __future__ import annotations

from pathlib import Path

import pytest

from zproxy.scenarios.cli import make_plan, resolve, with_recording
from zproxy.scenarios.model import Scenario
from zproxy.scenarios.parse import ScenarioError, parse_scenario
from zproxy.scenarios.settings import shipped_config

BASE = """\
name: s
description: d
time_scale: 0.01
traffic: TRAFFIC
phases:
  - {name: steady, duration: 300}
  - {name: outage, duration: 600, fault: {mode: down}, redis: restart}
  - {name: recovery, duration: 300, redis: REDIS}
invariants: [no_lost_writes]
"""
MIX = "{rate: 5, mix: {get_account: 1}}"
LINES = (
    '{"recording": "zproxy-recording/1"}\n'
    '{"t": 100, "method": "GET", "route": "account",'
    ' "path": "/v1/accounts/@account.0123456789abcdef",'
    ' "identity": "@identity.fedcba9876543210", "status": 200}\n'
    '{"t": 1150, "method": "PUT", "route": "account_update",'
    ' "path": "/v1/accounts/@account.0123456789abcdef", "identity": null, "status": 202}\n'
    '{"t": 1300, "method": "GET", "route": "catalog_products", "path": "/v1/catalog/products",'
    ' "identity": null, "status": 200}\n'
)


def parse(text: str, base_dir: Path) -> Scenario:
    return parse_scenario(text, "s.yaml", base_dir=base_dir, base_config=shipped_config())


def test_phases_are_real_seconds_played_at_time_scale(tmp_path: Path) -> None:
    s = parse(BASE.replace("TRAFFIC", MIX).replace("REDIS", "start"), tmp_path)
    assert [p.duration for p in s.phases] == [3.0, 6.0, 3.0]
    assert s.time_scale == 0.01
    assert [p.redis for p in s.phases] == [None, "restart", "start"]
    assert len(make_plan(s)) == 60  # 5 req/s over 12 played seconds


def test_an_unknown_redis_step_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        parse(BASE.replace("TRAFFIC", MIX).replace("REDIS", "flush"), tmp_path)
    assert any(
        "phases[2].redis: must be one of restart, stop, start" in p for p in info.value.problems
    )


def test_a_recording_named_in_the_file_is_replayed_at_time_scale(tmp_path: Path) -> None:
    (tmp_path / "rec.jsonl").write_text(LINES)
    s = parse(BASE.replace("TRAFFIC", "{recording: rec.jsonl}").replace("REDIS", "start"), tmp_path)
    assert s.traffic.recorded == (tmp_path / "rec.jsonl").resolve()
    plan = make_plan(s)
    # offsets x 0.01; the line at 1300 s (13 played s) is past the 12 s timeline
    assert [(p.t, p.method, p.credential) for p in plan] == [(1.0, "GET", 0), (11.5, "PUT", -1)]
    assert plan[0].path == plan[1].path == "/v1/accounts/@account.0"


def test_traffic_flag_replaces_generated_traffic(tmp_path: Path) -> None:
    (tmp_path / "rec.jsonl").write_text(LINES)
    s = parse(BASE.replace("TRAFFIC", MIX).replace("REDIS", "start"), tmp_path)
    replaced = with_recording(s, tmp_path / "rec.jsonl")
    assert replaced.traffic.mix == {}
    assert [p.kind for p in make_plan(replaced)] == ["account", "account_update"]


def test_a_missing_recording_is_a_located_problem(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        parse(
            BASE.replace("TRAFFIC", "{recording: nope.jsonl}").replace("REDIS", "start"), tmp_path
        )
    assert any("s.yaml:4: traffic.recording: no such file" in p for p in info.value.problems)


def test_the_former_name_of_the_2022_scenario_still_resolves() -> None:
    found = resolve(Path("zuora-api-outage-2022"))
    assert found is not None
    assert found.name == "zuora-outage-2022-11-27.yaml"
