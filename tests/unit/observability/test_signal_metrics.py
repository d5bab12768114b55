"""The operator metrics of issue 13 item 3: every configured route's write and cache results
start at 0 (so ``increase()`` sees the first dead letter of a route), the client-facing request
histogram takes one sample per counted request, upstream errors are counted by cause."""

from __future__ import annotations

from zproxy.observability.metrics import CACHE_RESULTS, WRITE_RESULTS, Metrics
from zproxy.policy.routes import ReadPolicy, Route, WritePolicy

ROUTES = [
    Route("account", frozenset({"GET"}), "/v1/accounts/{id}", read=ReadPolicy(fresh=30)),
    Route("payments", frozenset({"POST"}), "/v1/payments", write=WritePolicy(on_outage="queue")),
    Route("cancel", frozenset({"PUT"}), "/v1/subscriptions/{id}/cancel", write=WritePolicy()),
]


def _get(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_declared_routes_start_every_result_at_zero() -> None:
    m = Metrics()
    m.declare_routes(ROUTES)
    for result in WRITE_RESULTS:
        assert _get(m, "zproxy_writes_total", route="payments", result=result) == 0.0
        assert _get(m, "zproxy_writes_total", route="cancel", result=result) is None  # not queued
        assert _get(m, "zproxy_writes_total", route="account", result=result) is None
    for result in CACHE_RESULTS:
        assert _get(m, "zproxy_cache_total", route="account", result=result) == 0.0
        assert _get(m, "zproxy_cache_total", route="payments", result=result) is None
    for route in ("account", "payments", "cancel"):
        assert _get(m, "zproxy_upstream_success_false_total", route=route) == 0.0


def test_declaring_again_keeps_the_counts() -> None:
    m = Metrics()
    m.declare_routes(ROUTES)
    m.on_write("payments", "dead")
    m.on_cache("account", "hit")
    m.declare_routes(ROUTES)
    assert _get(m, "zproxy_writes_total", route="payments", result="dead") == 1.0
    assert _get(m, "zproxy_cache_total", route="account", result="hit") == 1.0
    assert b'zproxy_writes_total{result="applied",route="payments"} 0.0' in m.render()


def test_bare_names_still_declare_success_false() -> None:
    m = Metrics()
    m.declare_routes(["payments"])
    assert _get(m, "zproxy_upstream_success_false_total", route="payments") == 0.0
    assert _get(m, "zproxy_writes_total", route="payments", result="dead") is None


def test_one_request_duration_sample_per_counted_request() -> None:
    m = Metrics()
    m.on_request("account", "GET", 200, 0.0008)
    m.on_request("account", "GET", 503, 0.3)
    m.on_request("payments", "POST", 202, 0.02)
    assert _get(m, "zproxy_request_duration_seconds_count", route="account") == 2.0
    assert _get(m, "zproxy_request_duration_seconds_bucket", route="account", le="0.001") == 1.0
    assert _get(m, "zproxy_request_duration_seconds_bucket", route="account", le="0.5") == 2.0
    assert _get(m, "zproxy_request_duration_seconds_sum", route="payments") == 0.02
    assert _get(m, "zproxy_requests_total", route="account", method="GET", status="503") == 1.0


def test_upstream_errors_by_route_and_cause() -> None:
    m = Metrics()
    m.on_upstream_error("account", "dns")
    m.on_upstream_error("account", "dns")
    m.on_upstream_error("payments", "refused")
    assert _get(m, "zproxy_upstream_errors_total", route="account", cause="dns") == 2.0
    assert _get(m, "zproxy_upstream_errors_total", route="payments", cause="refused") == 1.0
    assert b"zproxy_upstream_errors_created" not in m.render()
