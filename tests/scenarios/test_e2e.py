"""End to end: a tiny scenario through real Redis, a real zproxy process and the fake Zuora,
then the baseline; the exit code and the report files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zproxy.scenarios.cli import run_scenario_command

pytestmark = pytest.mark.slow

COMPRESSED = """\
zproxy:
  settings:
    upstream: {connect_timeout: 1, read_timeout: 2, total_timeout: 3}
    retry: {deadline: 0.5, max_attempts: 2, base_delay: 0.05, max_delay: 0.1}
    breakers: {defaults: {reset_timeout: 1, fail_max: 3}}
"""

TINY = """\
name: tiny
description: Three 3 s phases at 20 req/s, a full outage in the middle.
seed: 11
traffic:
  rate: 20
  accounts: 10
  credentials: 2
  timeout: 3
  mix: {get_account: 30, get_summary: 10, list_subscriptions: 10, catalog: 10,
        zoql_query: 5, update_account: 15, create_order: 10, payment: 5}
phases:
  - {name: steady, duration: 3}
  - {name: outage, duration: 3, fault: {mode: down}}
  - {name: recovery, duration: 3}
drain_timeout: 15
invariants:
  - no_lost_writes
  - no_duplicate_writes
  - per_account_order
  - beats_baseline: outage
  - max_drain_seconds: 15
"""

#: Payments are never queued, so during an outage some requests must fail through zproxy too.
IMPOSSIBLE = """\
name: impossible
description: Demands 100% success during an outage while sending payments.
seed: 5
traffic:
  rate: 10
  accounts: 5
  credentials: 1
  timeout: 3
  mix: {get_account: 1, payment: 1}
phases:
  - {name: steady, duration: 2}
  - {name: outage, duration: 2, fault: {mode: down}}
drain_timeout: 5
invariants:
  - no_lost_writes
  - min_success_rate: {phase: outage, value: 1.0}
"""


def test_tiny_outage_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY + COMPRESSED)
    report_dir = tmp_path / "report"
    code = run_scenario_command("run", scenario, report_dir)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "result: all invariants hold" in printed

    report = json.loads((report_dir / "report.json").read_text())
    assert report["ok"] is True
    assert [c["ok"] for c in report["invariants"]] == [True] * 5
    zp, base = report["runs"]["zproxy"], report["runs"]["baseline"]
    for run in (zp, base):
        assert [p["name"] for p in run["phases"]] == ["steady", "outage", "recovery"]
        assert all(p["requests"] > 0 and p["p99_ms"] is not None for p in run["phases"])
        assert sum(p["requests"] for p in run["phases"]) == 180
    outage_zp, outage_base = zp["phases"][1], base["phases"][1]
    assert outage_zp["success_rate"] > outage_base["success_rate"]
    assert outage_zp["writes"]["queued"] > 0
    assert outage_zp["cache"].get("hit", 0) + outage_zp["cache"].get("stale_if_error", 0) > 0
    assert zp["audit"]["lost"] == []
    assert zp["audit"]["duplicates"] == []
    assert zp["total"]["writes"]["lost"] == 0
    assert zp["total"]["writes"]["applied"] >= zp["total"]["writes"]["queued"] > 0
    assert zp["drain_seconds"] is not None
    assert len(zp["timeline"]) == len(base["timeline"]) == 9

    page = (report_dir / "report.html").read_text()
    assert "<script" not in page
    assert not re.search(r"(src|href)\s*=", page)
    assert "http://" not in page
    assert "https://" not in page
    assert "<svg" in page
    assert "tiny" in page


def test_a_violated_invariant_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "impossible.yaml"
    scenario.write_text(IMPOSSIBLE + COMPRESSED)
    code = run_scenario_command("run", scenario, tmp_path / "report")
    printed = capsys.readouterr().out
    assert code == 1, printed
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    checks = {c["name"]: c for c in report["invariants"]}
    assert checks["no_lost_writes"]["ok"] is True
    assert checks["min_success_rate"]["ok"] is False
    assert "FAIL  min_success_rate phase=outage value=1" in printed
    assert report["runs"]["zproxy"]["phases"][1]["statuses"].get("503", 0) > 0
