"""`promtool check rules` and `promtool test rules` over the shipped rules, and every alert has
a promtool case where it fires and one where it stays silent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.prometheus.rules import DASHBOARD, RULE_FILES, TEST_FILES, alerts, promtool


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_check_rules() -> None:
    assert len(RULE_FILES) >= 3
    _run(promtool(), "check", "rules", *map(str, RULE_FILES))


def test_promtool_test_rules() -> None:
    assert TEST_FILES
    _run(promtool(), "test", "rules", *map(str, TEST_FILES))


def test_every_alert_fires_and_stays_silent_in_a_promtool_case() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    loaded: set[str] = set()
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text())
        loaded.update((path.parent / name).resolve().name for name in doc["rule_files"])
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check["exp_alerts"] else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert loaded == {path.name for path in RULE_FILES}
    assert names - fires == set(), "alerts without a firing case"
    assert names - silent == set(), "alerts without a silent case"
    assert (fires | silent) - names == set(), "cases for alerts that do not exist"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel query, checked by promtool as a recording rule's expression."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    doc = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"panel:{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboard.yml"
    path.write_text(yaml.safe_dump(doc))
    _run(promtool(), "check", "rules", str(path))
