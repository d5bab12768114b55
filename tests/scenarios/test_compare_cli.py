"""``--compare-config`` with a bad NEW.yaml: exit 2 and one line, as ``check-config``; no
traffic is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from zproxy.cli import main

SCENARIO = """\
name: gate
description: never runs
traffic: {rate: 5, accounts: 2, credentials: 1, mix: {get_account: 1}}
phases:
  - {name: steady, duration: 1}
invariants: [no_lost_writes]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("upstream:\n  read_timeout: -1\n", "upstream.read_timeout: must be > 0.0 (got -1)"),
        ("upstream: [\n", "not valid YAML"),
    ],
)
def test_a_bad_new_config_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    scenario = tmp_path / "gate.yaml"
    scenario.write_text(SCENARIO)
    new = tmp_path / "new.yaml"
    new.write_text(text)
    args = ["scenario", "run", str(scenario), "--compare-config", str(new)]
    assert main([*args, "--report", str(tmp_path / "r")]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert len(out.err.splitlines()) == 1, out.err
    assert out.err.startswith(f"zproxy: {new}")
    assert expected in out.err
    assert main(["check-config", str(new)]) == 2  # the same message as check-config
    assert capsys.readouterr().err == out.err
    assert not (tmp_path / "r").exists()


def test_a_missing_new_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "gate.yaml"
    scenario.write_text(SCENARIO)
    missing = tmp_path / "nope.yaml"
    assert main(["scenario", "run", str(scenario), "--compare-config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "cannot read" in err
