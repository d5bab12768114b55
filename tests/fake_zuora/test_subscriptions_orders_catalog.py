"""Subscriptions, orders, the version-dependent catalog, invoices and payments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_zuora.helpers import NEW_ACCOUNT, Api
from zproxy.testing.fake_zuora.samples import order_body


async def _account_with_subscriptions(api: Api, count: int, plan: str) -> str:
    number: str = (await api.post("/v1/accounts", NEW_ACCOUNT)).data["accountNumber"]
    for _ in range(count):
        assert (await api.post("/v1/orders", order_body(number, plan))).data["success"] is True
    return number


async def test_create_order_creates_a_subscription_readable_everywhere(
    api: Api, plan_id: str
) -> None:
    number = await _account_with_subscriptions(api, 0, plan_id)
    order = (await api.post("/v1/orders", order_body(number, plan_id))).data
    assert order["success"] is True
    assert order["status"] == "Completed"
    assert order["accountNumber"] == number
    assert order["orderNumber"].startswith("O-")
    [sub_number] = order["subscriptionNumbers"]
    sub = (await api.get(f"/v1/subscriptions/{sub_number}")).data
    assert sub["success"] is True
    assert sub["status"] == "Active"
    assert sub["accountNumber"] == number
    assert sub["ratePlans"][0]["productRatePlanId"] == plan_id
    assert sub["ratePlans"][0]["ratePlanCharges"][0]["quantity"] == 1.0
    got = (await api.get(f"/v1/orders/{order['orderNumber']}")).data
    assert got["order"]["subscriptions"][0]["subscriptionNumber"] == sub_number
    listed = (await api.get(f"/v1/subscriptions/accounts/{number}")).data
    assert [s["subscriptionNumber"] for s in listed["subscriptions"]] == [sub_number]


async def test_order_actions_update_add_remove_and_cancel(api: Api, plan_id: str) -> None:
    number = await _account_with_subscriptions(api, 1, plan_id)
    [sub] = (await api.get(f"/v1/subscriptions/accounts/{number}")).data["subscriptions"]
    rate_plan = sub["ratePlans"][0]["id"]
    info = await api.control("GET", "seed-info")
    other_plan = info["productRatePlans"][-1]["id"]

    async def act(*actions: dict[str, Any]) -> dict[str, Any]:
        body = {
            "orderDate": "2025-02-01",
            "existingAccountNumber": number,
            "subscriptions": [
                {"subscriptionNumber": sub["subscriptionNumber"], "orderActions": list(actions)}
            ],
        }
        result: dict[str, Any] = (await api.post("/v1/orders", body)).data
        return result

    update = {
        "type": "UpdateProduct",
        "updateProduct": {
            "ratePlanId": rate_plan,
            "chargeUpdates": [{"pricing": {"recurringPerUnit": {"quantity": 7}}}],
        },
    }
    assert (await act(update))["success"] is True
    assert (await act({"type": "AddProduct", "addProduct": {"productRatePlanId": other_plan}}))[
        "success"
    ]
    now = (await api.get(f"/v1/subscriptions/{sub['subscriptionNumber']}")).data
    assert now["ratePlans"][0]["ratePlanCharges"][0]["quantity"] == 7.0
    assert [p["productRatePlanId"] for p in now["ratePlans"]] == [plan_id, other_plan]
    assert now["version"] == 3
    assert now["id"] != sub["id"]
    assert (await act({"type": "RemoveProduct", "removeProduct": {"ratePlanId": rate_plan}}))[
        "success"
    ]
    cancel = {
        "type": "CancelSubscription",
        "cancelSubscription": {"cancellationPolicy": "EndOfCurrentTerm"},
    }
    assert (await act(cancel))["subscriptions"][0]["status"] == "Cancelled"
    final = (await api.get(f"/v1/subscriptions/{sub['id']}")).data
    assert final["status"] == "Cancelled"
    assert len(final["ratePlans"]) == 1


async def test_a_failing_order_applies_nothing(api: Api, plan_id: str) -> None:
    number = await _account_with_subscriptions(api, 0, plan_id)
    body = order_body(number, plan_id)
    body["subscriptions"].append(
        {
            "orderActions": [
                {
                    "type": "CreateSubscription",
                    "createSubscription": {
                        "subscribeToRatePlans": [{"productRatePlanId": "no-such-plan"}]
                    },
                }
            ]
        }
    )
    reply = await api.post("/v1/orders", body)
    assert reply.status == 200
    assert reply.data["success"] is False
    assert "no-such-plan" in reply.data["reasons"][0]["message"]
    assert (await api.get(f"/v1/subscriptions/accounts/{number}")).data["subscriptions"] == []
    assert [e["path"] for e in await api.ledger()] == ["/v1/accounts"]


async def test_order_for_a_new_account_with_billing_and_payment(api: Api, plan_id: str) -> None:
    card = {"cardNumber": "4111111111111111", "expirationMonth": 1, "expirationYear": 2030}
    body = order_body(
        "unused", plan_id, processingOptions={"runBilling": True, "collectPayment": True}
    )
    del body["existingAccountNumber"]
    body["newAccount"] = {**NEW_ACCOUNT, "creditCard": card}
    order = (await api.post("/v1/orders", body)).data
    assert order["success"] is True
    assert order["paidAmount"] == 348.0
    invoice = (await api.get(f"/v1/invoices/{order['invoiceNumbers'][0]}")).data
    assert (invoice["amount"], invoice["balance"]) == (348.0, 0.0)
    payment = (await api.get(f"/v1/payments/{order['paymentNumber']}")).data
    assert payment["paidInvoices"][0]["invoiceNumber"] == invoice["invoiceNumber"]


async def test_order_preview_changes_nothing(api: Api, plan_id: str) -> None:
    before = await api.control("GET", "seed-info")
    preview = (await api.post("/v1/orders/preview", order_body("A00000001", plan_id))).data
    assert preview["success"] is True
    assert preview["previewResult"]["invoices"][0]["amount"] == 348.0
    assert await api.control("GET", "seed-info") == before
    assert await api.ledger() == []
    created = (await api.post("/v1/orders", order_body("A00000001", plan_id))).data
    assert created["orderNumber"] == "O-00000001", "a preview consumes no numbers"


async def test_subscriptions_by_account_pages_at_most_40(api: Api, plan_id: str) -> None:
    number = await _account_with_subscriptions(api, 3, plan_id)
    first = (await api.get(f"/v1/subscriptions/accounts/{number}?page=1&pageSize=2")).data
    assert len(first["subscriptions"]) == 2
    assert first["nextPage"] == f"/v1/subscriptions/accounts/{number}?page=2&pageSize=2"
    second = (await api.get(first["nextPage"])).data
    assert len(second["subscriptions"]) == 1
    assert "nextPage" not in second
    assert (await api.get(f"/v1/subscriptions/accounts/{number}?pageSize=41")).status == 400


async def test_update_and_cancel_subscription(api: Api, plan_id: str) -> None:
    number = await _account_with_subscriptions(api, 1, plan_id)
    [sub] = (await api.get(f"/v1/subscriptions/accounts/{number}")).data["subscriptions"]
    key = sub["subscriptionNumber"]
    upd = await api.put(
        f"/v1/subscriptions/{key}",
        {
            "autoRenew": False,
            "notes": "n",
            "update": [
                {"ratePlanId": sub["ratePlans"][0]["id"], "chargeUpdateDetails": [{"quantity": 2}]}
            ],
        },
    )
    assert upd.data["success"] is True
    assert upd.data["totalDeltaMrr"] == 29.0
    got = (await api.get(f"/v1/subscriptions/{key}")).data
    assert got["autoRenew"] is False
    assert got["notes"] == "n"
    assert got["version"] == 2
    assert (await api.put(f"/v1/subscriptions/{key}/cancel", {})).status == 400
    cancelled = await api.put(
        f"/v1/subscriptions/{key}/cancel",
        {"cancellationPolicy": "SpecificDate", "cancellationEffectiveDate": "2025-06-30"},
    )
    assert cancelled.data["success"] is True
    assert cancelled.data["cancelledDate"] == "2025-06-30"
    again = await api.put(
        f"/v1/subscriptions/{key}/cancel", {"cancellationPolicy": "EndOfCurrentTerm"}
    )
    assert again.status == 200
    assert again.data["success"] is False
    account = (await api.get(f"/v1/accounts/{number}")).data
    assert account["metrics"]["contractedMrr"] == 0.0


@pytest.mark.parametrize(
    ("version", "as_url"),
    [(None, False), ("211.0", False), ("229.0", False), ("230.0", True), ("2024-05-20", True)],
)
async def test_catalog_shape_depends_on_zuora_version(
    api: Api, version: str | None, as_url: bool
) -> None:
    headers = {"Zuora-Version": version} if version else {}
    body = (await api.get("/v1/catalog/products", headers=headers)).data
    product = body["products"][0]
    if as_url:
        assert product["productRatePlans"] == f"/v1/rateplan/{product['id']}/productRatePlan"
        plans = (await api.get(product["productRatePlans"], headers=headers)).data[
            "productRatePlans"
        ]
    else:
        plans = product["productRatePlans"]
    assert plans[0]["productRatePlanCharges"][0]["pricing"][0]["currency"] == "USD"
    single = (await api.get(f"/v1/catalog/product/{product['sku']}", headers=headers)).data
    assert single["id"] == product["id"]
    assert isinstance(single["productRatePlans"], str) is as_url


async def test_catalog_pages(api: Api) -> None:
    first = (await api.get("/v1/catalog/products?pageSize=3")).data
    assert len(first["products"]) == 3
    assert first["nextPage"].endswith("page=2&pageSize=3")
    names = [p["name"] for p in first["products"]]
    second = (await api.get(first["nextPage"])).data
    assert not set(names) & {p["name"] for p in second["products"]}


async def test_payment_applies_to_an_invoice(api: Api) -> None:
    info = await api.control("GET", "seed-info")
    state = api.fz.fake.tenant(1)
    number, invoice = next(
        (n, i) for n in info["accounts"] for i in state.invoices_of(n) if i["balance"] > 0
    )
    acct_id = state.accounts[number]["id"]
    body = {
        "accountId": acct_id,
        "amount": invoice["balance"],
        "type": "External",
        "invoices": [{"invoiceId": invoice["id"], "amount": invoice["balance"]}],
    }
    paid = (await api.post("/v1/payments", body)).data
    assert paid["success"] is True
    assert paid["appliedAmount"] == invoice["amount"]
    assert (await api.get(f"/v1/invoices/{invoice['invoiceNumber']}")).data["balance"] == 0.0
    assert (await api.get(f"/v1/payments/{paid['id']}")).data["number"] == paid["number"]
    over = await api.post("/v1/payments", body)
    assert over.data["success"] is False, "the invoice is already paid"
    assert [e["account"] for e in await api.ledger()] == [number]
