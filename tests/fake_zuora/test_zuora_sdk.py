"""The official ``zuora-sdk`` (sync, urllib3) against the fake: the fake is Zuora enough for it.

The SDK runs in a worker thread (``asyncio.to_thread``) while the fake serves on the test's
loop. The token comes from the SDK's own ``OAuthApi``; ``ZuoraClient.initialize()`` is not
used because its refresh thread sleeps 10 minutes and ``stop_auto_auth`` would block 5 s
joining it. ``stop_auto_auth()`` still runs at the end, so no thread is left behind.

Importing ``zuora_sdk`` builds ~1700 pydantic models (about 8 s), hence ``slow``. The SDK's
generated models use pydantic APIs deprecated since 2.0/2.11; pydantic deprecation warnings
raised from inside ``zuora_sdk`` are ignored here, every other warning still fails the test.
"""

from __future__ import annotations

import asyncio
import datetime
import threading
from pathlib import Path
from typing import Any

import pytest
from zuora_sdk.configuration import Configuration
from zuora_sdk.models.create_account_request import CreateAccountRequest
from zuora_sdk.models.create_order_request import CreateOrderRequest
from zuora_sdk.zuora_client import ZuoraClient

from tests.fake_zuora.helpers import NEW_ACCOUNT
from tests.support import zproxy_stack
from zproxy.testing.fake_zuora import RunningFakeZuora

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning:zuora_sdk"),
]


def _order(account: str, plan: str) -> CreateOrderRequest:
    order = CreateOrderRequest.from_dict(
        {
            "orderDate": datetime.date(2025, 1, 1),
            "existingAccountNumber": account,
            "subscriptions": [
                {
                    "orderActions": [
                        {
                            "type": "CreateSubscription",
                            "createSubscription": {
                                "terms": {
                                    "initialTerm": {
                                        "termType": "TERMED",
                                        "period": 12,
                                        "periodType": "Month",
                                    },
                                    "renewalSetting": "RENEW_WITH_SPECIFIC_TERM",
                                    "renewalTerms": [{"period": 12, "periodType": "Month"}],
                                    "autoRenew": True,
                                },
                                "subscribeToRatePlans": [{"productRatePlanId": plan}],
                            },
                        }
                    ]
                }
            ],
            "processingOptions": {"runBilling": False, "collectPayment": False},
        }
    )
    assert order is not None
    return order


def _sdk_flow(fz: RunningFakeZuora, host: str) -> dict[str, Any]:
    client = ZuoraClient(
        client_id=fz.client_id,
        client_secret=fz.client_secret,
        env=None,  # type: ignore[arg-type]  # None is how the SDK takes a custom host
        config=Configuration(host=host),
    )
    try:
        token = client.o_auth_api().create_token(
            client_id=fz.client_id, client_secret=fz.client_secret, grant_type="client_credentials"
        )
        client.add_default_header("Authorization", f"Bearer {token.access_token}")
        client.set_zuora_version("2025-08-12")
        created = client.accounts_api().create_account(CreateAccountRequest.from_dict(NEW_ACCOUNT))
        info = client.accounts_api().get_account_with_http_info(
            created.account_number, zuora_track_id="sdk-1"
        )
        products = client.products_api().get_products(page_size=10).products
        plans = (
            client.product_rate_plans_api()
            .get_rate_plans_by_product(products[0].id)
            .product_rate_plans
        )
        orders = client.orders_api()
        first = orders.create_order(
            _order(created.account_number, plans[0].id), idempotency_key="sdk-order-1"
        )
        second = orders.create_order(
            _order(created.account_number, plans[0].id), idempotency_key="sdk-order-1"
        )
        subs = client.subscriptions_api().get_subscriptions_by_account(created.account_number)
        return {
            "token": token,
            "created": created,
            "account": info.data,
            "track_id": info.headers.get("Zuora-Track-Id"),
            "cache_status": info.headers.get("Cache-Status"),
            "rate_limit_remaining": info.rate_limit_remaining,
            "products": products,
            "plans": plans,
            "first": first,
            "second": second,
            "subs": subs,
        }
    finally:
        client.stop_auto_auth()  # type: ignore[no-untyped-call]
        client.api_client.rest_client.pool_manager.clear()


async def test_the_official_sdk_round_trip(fz: RunningFakeZuora) -> None:
    threads_before = threading.active_count()
    out = await asyncio.to_thread(_sdk_flow, fz, fz.url)
    _check(fz, out)
    assert threading.active_count() <= threads_before + 1, "only the to_thread worker may remain"


async def test_the_official_sdk_round_trip_through_zproxy(tmp_path: Path, redis_url: str) -> None:
    """The same flow with the SDK's host pointed at zproxy: nothing else changes."""
    async with zproxy_stack(tmp_path, redis_url) as (fz, (zp,)):
        out = await asyncio.to_thread(_sdk_flow, fz, zp.url)
        _check(fz, out)
        assert out["cache_status"].startswith("zproxy; fwd=miss")


def _check(fz: RunningFakeZuora, out: dict[str, Any]) -> None:
    assert out["token"].expires_in == 3599
    assert out["created"].success is True
    number = out["created"].account_number
    assert out["account"].basic_info.account_number == number
    assert out["account"].basic_info.name == NEW_ACCOUNT["name"]
    assert out["track_id"] == "sdk-1"
    assert out["rate_limit_remaining"] is not None
    assert out["products"][0].product_rate_plans.startswith("/v1/rateplan/"), (
        "2025-08-12 is >= 230.0"
    )
    assert out["plans"][0].product_rate_plan_charges
    first, second = out["first"], out["second"]
    assert first.success is True
    assert (second.order_number, second.subscription_numbers) == (
        first.order_number,
        first.subscription_numbers,
    )
    assert [s.subscription_number for s in out["subs"].subscriptions] == first.subscription_numbers
    orders = [e for e in fz.fake.ledger.entries if e.path == "/v1/orders"]
    assert [(e.idempotency_key, e.account) for e in orders] == [("sdk-order-1", number)]
