"""The shipped route table: which route (and parameters) each Zuora call lands on."""

from __future__ import annotations

from pathlib import Path

import pytest

from zproxy.config.load import load_settings
from zproxy.policy.routes import Route, render_tags

TABLE = load_settings(Path(__file__).resolve().parents[3] / "config" / "zproxy.yaml", env={}).routes


@pytest.mark.parametrize(
    ("method", "path", "route", "params"),
    [
        ("POST", "/oauth/token", "oauth_token", {}),
        ("POST", "/v1/payments", "payments_write", {"rest": ""}),
        ("PUT", "/v1/payments/P1/apply", "payments_write", {"rest": "/P1/apply"}),
        ("POST", "/v1/payment-methods", "payment_methods_write", {"rest": ""}),
        ("GET", "/v1/payments/P1", "payment", {"payment": "P1"}),
        ("GET", "/v1/accounts/A1", "account", {"account": "A1"}),
        ("GET", "/v1/accounts/A1/summary", "account_summary", {"account": "A1"}),
        (
            "GET",
            "/v1/accounts/A1/payment-methods",
            "account_payment_methods",
            {"account": "A1", "rest": ""},
        ),
        (
            "GET",
            "/v1/accounts/A1/payment-methods/default",
            "account_payment_methods",
            {"account": "A1", "rest": "/default"},
        ),
        ("PUT", "/v1/accounts/A1", "account_update", {"account": "A1"}),
        (
            "PUT",
            "/v1/subscriptions/S1",
            "subscription_change",
            {"subscription": "S1", "action": ""},
        ),
        (
            "PUT",
            "/v1/subscriptions/S1/cancel",
            "subscription_change",
            {"subscription": "S1", "action": "/cancel"},
        ),
        ("GET", "/v1/subscriptions/accounts/A1", "subscriptions_by_account", {"account": "A1"}),
        ("GET", "/v1/subscriptions/S1", "subscription", {"subscription": "S1"}),
        ("POST", "/v1/orders", "orders_create", {}),
        ("POST", "/v1/orders/preview", "orders_preview", {}),
        ("POST", "/v1/action/query", "zoql_query", {}),
        ("GET", "/v1/catalog/products", "catalog_products", {}),
    ],
)
def test_route_table(method: str, path: str, route: str, params: dict[str, str]) -> None:
    match = TABLE.match(method, path)
    assert match is not None
    assert (match.route.name, dict(match.params)) == (route, params)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/paymentsX"),
        ("GET", "/v1/unknown"),
        ("DELETE", "/v1/accounts/A1"),
        ("GET", "/v1/accounts/"),
    ],
)
def test_unrouted_calls_are_passed_through(method: str, path: str) -> None:
    assert TABLE.match(method, path) is None


def test_rest_parameter_needs_a_slash() -> None:
    route = Route("r", frozenset({"GET"}), "/v1/x{rest*}")
    assert route.match("/v1/x") == {"rest": ""}
    assert route.match("/v1/x/a/b") == {"rest": "/a/b"}
    assert route.match("/v1/xy") is None


def test_tags_render_from_params_body_and_response() -> None:
    tags = render_tags(
        [
            "account:{body.existingAccountNumber}",
            "subscription:{response.subscriptionNumbers}",
            "subscription:{body.subscriptions.subscriptionNumber}",
            "missing:{body.nope}",
        ],
        {},
        {"existingAccountNumber": "A1", "subscriptions": [{"subscriptionNumber": "S2"}]},
        {"subscriptionNumbers": ["S9", "S8"]},
    )
    assert tags == ["account:A1", "subscription:S9", "subscription:S8", "subscription:S2"]
