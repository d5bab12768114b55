"""The pre-deploy gate end to end: a tiny scenario run through real Redis and a real zproxy
process on the current config and on NEW.yaml, then the baseline; the exit code, the table
and the report files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from zproxy.cli import main
from zproxy.scenarios.settings import SHIPPED_CONFIG

pytestmark = pytest.mark.slow

#: Zuora answers every call in 200 ms; no warm-up, so reads reach it. The scenario sets no
#: upstream timeout: the config under test decides them.
GATE = """\
name: gate
description: Two 2 s phases at 15 req/s while Zuora answers in 200 ms.
seed: 3
warmup: false
traffic:
  rate: 15
  accounts: 6
  credentials: 1
  timeout: 3
  mix: {get_account: 30, list_subscriptions: 10, catalog: 10, update_account: 10, payment: 5}
phases:
  - {name: steady, duration: 2, fault: {mode: slow, latency_ms: 200}}
  - {name: later, duration: 2, fault: {mode: slow, latency_ms: 200}}
drain_timeout: 10
invariants:
  - no_lost_writes
  - no_duplicate_writes
"""


def _files(tmp_path: Path, new: dict[str, Any] | str) -> tuple[Path, Path]:
    scenario = tmp_path / "gate.yaml"
    scenario.write_text(GATE)
    config = tmp_path / "new.yaml"
    config.write_text(new if isinstance(new, str) else yaml.safe_dump(new))
    return scenario, config


def _shipped() -> dict[str, Any]:
    doc = yaml.safe_load(SHIPPED_CONFIG.read_text())
    assert isinstance(doc, dict)
    return doc


def test_timeouts_below_zuoras_latency_fail_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harmful = _shipped()
    harmful["upstream"].update(connect_timeout=0.05, read_timeout=0.05, total_timeout=0.1)
    scenario, new = _files(tmp_path, harmful)
    report = tmp_path / "report"
    code = main(["scenario", "run", str(scenario), "--compare-config", str(new),
                 "--report", str(report)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert "result: the NEW CONFIG IS WORSE on" in printed
    worse_line = next(line for line in printed.splitlines() if "journey billing_view" in line)
    assert worse_line.endswith("WORSE")

    result = json.loads((report / "report.json").read_text())
    assert result["ok"] is False
    assert "journey billing_view" in result["comparison"]["worse"]
    cur = result["current"]["runs"]["zproxy"]["journeys"]["billing_view"]
    nxt = result["new"]["runs"]["zproxy"]["journeys"]["billing_view"]
    assert cur["requests"] == nxt["requests"] > 0  # the same requests on both sides
    assert cur["failed"] == 0
    assert nxt["error_ratio"] > 0.5
    assert result["current"]["ok"] is True  # the invariants: writes were still not lost
    assert result["configs"]["new"] == str(new)
    assert result["new"]["meta"]["settings"]["upstream"]["read_timeout"] == 0.05
    assert result["current"]["meta"]["settings"]["upstream"]["read_timeout"] == 30

    page = (report / "report.html").read_text()
    assert "Current config" in page
    assert "New config" in page
    assert "billing_view" in page
    assert "WORSE" in page
    assert "<script" not in page


def test_an_identical_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario, new = _files(tmp_path, SHIPPED_CONFIG.read_text())
    report = tmp_path / "report"
    code = main(["scenario", "run", str(scenario), "--compare-config", str(new),
                 "--report", str(report)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "result: the new config is no worse (gate passed)" in printed
    result = json.loads((report / "report.json").read_text())
    assert result["comparison"]["worse"] == []
    journeys = result["comparison"]["journeys"]
    assert {j["journey"] for j in journeys} >= {"billing_view", "payment", "purchase"}
    assert all(not j["worse"] for j in journeys)
    assert [i["current"]["ok"] for i in result["comparison"]["invariants"]] == [True, True]
    assert [i["new"]["ok"] for i in result["comparison"]["invariants"]] == [True, True]
