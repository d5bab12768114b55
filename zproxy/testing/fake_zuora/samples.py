"""Request bodies a CustomersDot-like client sends, for tests, benchmarks and scenarios."""

from __future__ import annotations

from typing import Any


def order_body(account: str, plan: str, **extra: Any) -> dict[str, Any]:
    """``POST /v1/orders``: a 12-month subscription to ``plan`` on an existing account, with
    no billing run and no payment (zuora-api.md §4.1)."""
    create = {
        "terms": {
            "initialTerm": {"termType": "TERMED", "period": 12, "periodType": "Month"},
            "renewalSetting": "RENEW_WITH_SPECIFIC_TERM",
            "renewalTerms": [{"period": 12, "periodType": "Month"}],
            "autoRenew": True,
        },
        "subscribeToRatePlans": [{"productRatePlanId": plan}],
    }
    return {
        "orderDate": "2025-01-01",
        "existingAccountNumber": account,
        "subscriptions": [
            {"orderActions": [{"type": "CreateSubscription", "createSubscription": create}]}
        ],
        "processingOptions": {"runBilling": False, "collectPayment": False},
        **extra,
    }
