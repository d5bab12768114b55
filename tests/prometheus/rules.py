"""The shipped Prometheus rule files, read once for the tests beside this module."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "config" / "prometheus"
RULE_FILES = sorted(PROMETHEUS.glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
RUNBOOK = PROMETHEUS / "RUNBOOK.md"
DASHBOARD = ROOT / "config" / "grafana" / "zproxy-dashboard.json"
RUNBOOK_URL = (
    "https://gitlab.com/gitlab-org/fulfillment/zproxy/-/blob/main/config/prometheus/RUNBOOK.md"
)


def rules() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool not installed: .ci/run installs it (Debian's `prometheus` package); "
            "elsewhere `apt-get install prometheus`"
        )
    return path
