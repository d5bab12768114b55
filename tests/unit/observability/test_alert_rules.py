"""The shipped alert rules and dashboard only name metrics zproxy exports, with its labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from zproxy.observability.metrics import Metrics

CONFIG = Path(__file__).resolve().parents[3] / "config"
RULES = CONFIG / "prometheus" / "zproxy-alerts.yml"
DASHBOARD = CONFIG / "grafana" / "zproxy-dashboard.json"


def _exported() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for metric in Metrics().registry.collect():
        for sample in metric.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
        names = {metric.name, metric.name + "_total"} if metric.type == "counter" else {metric.name}
        for name in names:
            out.setdefault(name, set())
    m = Metrics()
    m.on_request("r", "GET", 200)
    m.on_cache("r", "hit")
    m.on_upstream("r", "ok", 0.1)
    m.on_write("r", "dead")
    m.on_transition("reads", "closed", "open")
    for metric in m.registry.collect():
        for sample in metric.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def test_every_rule_names_exported_metrics_and_labels() -> None:
    doc = yaml.safe_load(RULES.read_text())
    exported = _exported()
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        _check_expr(str(rule["alert"]), str(rule["expr"]), exported)


def _check_expr(where: str, expr: str, exported: dict[str, set[str]]) -> None:
    names = re.findall(r"\b(zproxy_[a-z_]+)(?:\{([^}]*)\})?", expr)
    assert names or expr.startswith("up{"), (where, expr)
    for name, labels in names:
        assert name in exported, (where, name)
        for label in re.findall(r"([a-z_]+)\s*[!=]~?", labels):
            assert label in exported[name], (where, name, label)


def test_every_dashboard_panel_queries_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported()
    panels = dashboard["panels"]
    assert len(panels) >= 10
    for panel in panels:
        for target in panel["targets"]:
            _check_expr(panel["title"], target["expr"], exported)
