"""Every series the rule files read is exported by zproxy (with those labels) or recorded by
one of the rule files; the payment rules count the routes config/zproxy.yaml names."""

from __future__ import annotations

import re

import yaml

from tests.prometheus.rules import ROOT, alerts, rules
from zproxy.observability.metrics import Metrics

_SERIES = re.compile(r"\b(zproxy(?:_[a-z_]+|:[a-z0-9_:]+))(?:\{([^}]*)\})?")
_LABEL = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)")
_PAYMENT = ".*payment.*"


def _exported() -> dict[str, set[str]]:
    m = Metrics()
    m.on_request("r", "GET", 200)
    m.on_cache("r", "hit")
    m.on_upstream("r", "ok", 0.1)
    m.on_write("r", "dead")
    m.on_transition("reads", "closed", "open")
    m.on_upstream_success_false("r")
    out: dict[str, set[str]] = {}
    for metric in m.registry.collect():
        for sample in metric.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def test_every_series_in_the_rules_is_exported_or_recorded() -> None:
    exported = _exported()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    for rule in rules():
        where = rule.get("alert") or rule["record"]
        for name, labels in _SERIES.findall(str(rule["expr"])):
            if ":" in name:
                assert name in recorded, (where, name)
                continue
            assert name in exported, (where, name)
            for label in _LABEL.findall(labels):
                assert label in exported[name], (where, name, label)


def test_payment_regex_matches_the_configured_payment_routes_only() -> None:
    config = yaml.safe_load((ROOT / "config" / "zproxy.yaml").read_text())
    names = {route["name"] for route in config["routes"]}
    payment = {name for name in names if re.fullmatch(_PAYMENT, name)}
    assert payment == {
        "payments_write",
        "payment_methods_write",
        "payment",
        "account_payment_methods",
    }
    texts = [str(rule["expr"]) for rule in rules()]
    assert all(f'route=~"{_PAYMENT}"' in t for t in texts if "route=~" in t)


def test_thresholds_are_constants_set_once() -> None:
    by_name = {rule["record"]: str(rule["expr"]) for rule in rules() if "record" in rule}
    assert by_name["zproxy:payment_failure_ratio:threshold"] == "vector(0.05)"
    assert by_name["zproxy:payment_calls:min_volume"] == "vector(20)"
    assert by_name["zproxy:slo_availability:objective"] == "vector(0.9995)"
    for rule in alerts():
        assert "0.05" not in str(rule["expr"]), rule["alert"]
        assert "0.9995" not in str(rule["expr"]), rule["alert"]
