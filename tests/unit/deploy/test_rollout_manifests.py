"""The Argo Rollouts manifests (``config/kubernetes/rollout.yaml``, ``analysis-template.yaml``):
the Rollout takes over the plain Deployment and is gated by the AnalysisTemplate, whose
Prometheus queries read only metrics zproxy exports, with labels it sets, and are valid PromQL
once the template's arguments are filled in."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from zproxy.observability.metrics import Metrics

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "config" / "kubernetes"
ROLLOUT: dict[str, Any] = yaml.safe_load((K8S / "rollout.yaml").read_text())
TEMPLATE: dict[str, Any] = yaml.safe_load((K8S / "analysis-template.yaml").read_text())
DEPLOYMENT: dict[str, Any] = yaml.safe_load((K8S / "deployment.yaml").read_text())
QUERIES = {m["name"]: m["provider"]["prometheus"]["query"] for m in TEMPLATE["spec"]["metrics"]}
_METRIC = re.compile(r"\b(zproxy_[a-z_]+)(?:\{([^}]*)\})?")
_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
_ARG = re.compile(r"\{\{args\.([a-z-]+)\}\}")
#: Labels Prometheus adds when it scrapes (the ServiceMonitor's target labels).
TARGET_LABELS = {"namespace", "pod", "instance", "job"}


def exported() -> dict[str, set[str]]:
    m = Metrics()
    m.on_request("r", "GET", 200)
    m.change.on_journey("purchase", "failed")
    out: dict[str, set[str]] = {}
    for metric in m.registry.collect():
        for sample in metric.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def test_the_rollout_takes_over_the_deployment_and_runs_the_analysis() -> None:
    spec = ROLLOUT["spec"]
    assert ROLLOUT["kind"] == "Rollout"
    assert ROLLOUT["apiVersion"] == "argoproj.io/v1alpha1"
    assert spec["workloadRef"]["kind"] == "Deployment"
    assert spec["workloadRef"]["name"] == DEPLOYMENT["metadata"]["name"]
    assert spec["selector"] == DEPLOYMENT["spec"]["selector"]
    canary = spec["strategy"]["canary"]
    weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
    assert weights == sorted(weights)
    assert weights[-1] == 100
    assert any("pause" in s for s in canary["steps"])
    (ref,) = canary["analysis"]["templates"]
    assert TEMPLATE["kind"] == "AnalysisTemplate"
    assert ref["templateName"] == TEMPLATE["metadata"]["name"]
    declared = {a["name"] for a in TEMPLATE["spec"]["args"]}
    given = {a["name"] for a in canary["analysis"]["args"]}
    defaulted = {a["name"] for a in TEMPLATE["spec"]["args"] if "value" in a}
    assert declared == given | defaulted


def test_every_query_reads_exported_metrics_with_their_labels() -> None:
    metrics = exported()
    assert {"journey-errors", "errors-5xx", "config-rollbacks"} <= set(QUERIES)
    for name, query in QUERIES.items():
        found = _METRIC.findall(query)
        assert found, name
        for metric, labels in found:
            assert metric in metrics, (name, metric)
            for label in _LABEL.findall(labels):
                assert label in metrics[metric] | TARGET_LABELS, (name, metric, label)
    assert "zproxy_journey_requests_total" in QUERIES["journey-errors"]
    assert 'status=~"5.."' in QUERIES["errors-5xx"]


def test_every_argument_a_query_uses_is_declared() -> None:
    declared = {a["name"] for a in TEMPLATE["spec"]["args"]}
    for metric in TEMPLATE["spec"]["metrics"]:
        used = set(_ARG.findall(yaml.safe_dump(metric)))
        assert used <= declared, (metric["name"], used - declared)


def test_the_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    rules = [
        {"record": f"analysis:{i}", "expr": _ARG.sub("x", query)}
        for i, query in enumerate(QUERIES.values())
    ]
    path = tmp_path / "analysis.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "analysis", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
