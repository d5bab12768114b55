"""zproxy_upstream_success_false_total{route}: counted per route, zero children pre-created
for configured routes (so the first event shows up in increase())."""

from __future__ import annotations

from zproxy.observability.metrics import Metrics


def _value(m: Metrics, route: str) -> float | None:
    return m.registry.get_sample_value("zproxy_upstream_success_false_total", {"route": route})


def test_counts_success_false_answers_by_route() -> None:
    m = Metrics()
    m.on_upstream_success_false("payments_write")
    m.on_upstream_success_false("payments_write")
    assert _value(m, "payments_write") == 2.0
    assert _value(m, "account") is None


def test_declared_routes_start_at_zero_and_declaring_again_keeps_counts() -> None:
    m = Metrics()
    m.declare_routes(["payments_write", "payment_methods_write"])
    assert _value(m, "payment_methods_write") == 0.0
    m.on_upstream_success_false("payments_write")
    m.declare_routes(["payments_write"])
    assert _value(m, "payments_write") == 1.0
    assert b'zproxy_upstream_success_false_total{route="payment_methods_write"} 0.0' in m.render()
