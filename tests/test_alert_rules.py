"""The shipped alert rules only name metrics zproxy exports, with labels it uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from zproxy.observability.metrics import Metrics

RULES = Path(__file__).resolve().parent.parent / "config" / "prometheus" / "zproxy-alerts.yml"


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
        expr = str(rule["expr"])
        for name, labels in re.findall(r"\b(zproxy_[a-z_]+)(?:\{([^}]*)\})?", expr):
            assert name in exported, (rule["alert"], name)
            for label in re.findall(r"([a-z_]+)\s*[!=]~?", labels):
                assert label in exported[name], (rule["alert"], name, label)
