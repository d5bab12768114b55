"""``zproxy scenario list`` and the exit code for a bad scenario file (no traffic is sent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zproxy.cli import main
from zproxy.scenarios.cli import bundled, run_scenario_command


def test_list_prints_one_line_per_bundled_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    files = bundled()
    assert len(lines) == len(files) >= 5
    for line, path in zip(lines, files, strict=True):
        name, _, summary = line.partition("  ")
        assert name == path.name
        assert summary.strip()


def test_a_bad_file_exits_2_naming_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\n"
        "description: broken on purpose\n"
        "traffic: {rate: 0, mix: {get_account: 1}}\n"
        "phases:\n"
        "  - {name: a, duration: 1, fault: {mode: sideways}}\n"
        "invariants: [no_such_thing]\n"
    )
    assert main(["scenario", "run", str(bad), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"zproxy: {bad}:3: traffic.rate: must be a number > 0 <= 2000 (got 0)",
        f"zproxy: {bad}:5: phases[0].fault: mode must be one of "
        "['auth_down', 'down', 'flaky', 'lock_competition', 'ratelimit', 'reset', "
        "'reset_after_apply', 'slow', 'timeout', 'up', 'writes_down']",
        f"zproxy: {bad}:6: invariants[0]: unknown invariant 'no_such_thing'; one of "
        "no_lost_writes, no_duplicate_writes, per_account_order, no_dead_writes, "
        "max_drain_seconds, min_success_rate, max_p99_ms, beats_baseline",
    ]
    assert not (tmp_path / "r").exists()


def test_missing_file_and_missing_argument_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_scenario_command("run", tmp_path / "nope.yaml", None) == 2
    assert "no such scenario file or bundled scenario" in capsys.readouterr().err
    assert run_scenario_command("run", None, None) == 2
    assert "needs a FILE" in capsys.readouterr().err


def test_a_bad_recorded_traffic_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.jsonl").write_text('{"t": 0, "method": "GET"}\n')
    scenario = tmp_path / "rec.yaml"
    scenario.write_text(
        "name: rec\ndescription: recorded\ntraffic: {recorded: t.jsonl}\n"
        "phases: [{name: a, duration: 1}]\n"
    )
    assert run_scenario_command("run", scenario, tmp_path / "r") == 2
    assert f"{tmp_path / 't.jsonl'}:1: `method` and an origin-form `path` are required" in (
        capsys.readouterr().err
    )
