"""Accounts, payment methods, error shapes and the headers every answer carries."""

from __future__ import annotations

import uuid

import orjson
import pytest

from tests.fake_zuora.helpers import NEW_ACCOUNT, Api

IRONBANK_WORDS = (
    "API_DISABLED",
    "CANNOT_DELETE",
    "DUPLICATE_VALUE",
    "INVALID_FIELD",
    "INVALID_ID",
    "INVALID_TYPE",
    "INVALID_VALUE",
    "LOCK_COMPETITION",
    "MALFORMED_QUERY",
    "MISSING_REQUIRED_VALUE",
    "REQUEST_EXCEEDED_LIMIT",
    "REQUEST_EXCEEDED_RATE",
    "TEMPORARY_ERROR",
    "TRANSACTION_FAILED",
    "TRANSACTION_TERMINATED",
    "TRANSACTION_TIMEOUT",
    "UNKNOWN_ERROR",
)


async def test_get_account_has_the_v1_shape_and_zuora_headers(api: Api) -> None:
    reply = await api.get("/v1/accounts/A00000001", headers={"Zuora-Track-Id": "trace-1"})
    assert reply.status == 200
    assert reply.data["success"] is True
    assert set(reply.data) >= {
        "basicInfo",
        "billingAndPayment",
        "metrics",
        "billToContact",
        "soldToContact",
    }
    assert reply.data["basicInfo"]["accountNumber"] == "A00000001"
    assert uuid.UUID(reply.headers["Zuora-Request-Id"])
    assert reply.headers["Zuora-Track-Id"] == "trace-1"
    for header in (
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Concurrency-Limit-Type",
        "Concurrency-Limit-Limit",
        "Concurrency-Limit-Remaining",
    ):
        assert reply.headers[header]
    by_id = await api.get(f"/v1/accounts/{reply.data['basicInfo']['id']}")
    assert by_id.data["basicInfo"]["accountNumber"] == "A00000001"


async def test_remaining_rate_limit_counts_down(api: Api) -> None:
    first = int((await api.get("/v1/accounts/A00000001")).headers["RateLimit-Remaining"])
    second = int((await api.get("/v1/accounts/A00000001")).headers["RateLimit-Remaining"])
    assert second == first - 1


async def test_not_found_is_200_success_false_with_50000040(api: Api) -> None:
    reply = await api.get("/v1/accounts/NOPE")
    assert reply.status == 200
    assert reply.data["success"] is False
    assert reply.data["processId"]
    assert reply.data["requestId"] == reply.headers["Zuora-Request-Id"]
    assert reply.data["reasons"][0]["code"] == 50000040


async def test_unknown_routes_404_in_a_zuora_shape(api: Api) -> None:
    reply = await api.get("/v1/no/such/thing")
    assert reply.status == 404
    assert reply.data["success"] is False
    assert "Zuora-Request-Id" in reply.headers
    assert (await api.call("DELETE", "/v1/accounts/A00000001")).status == 405


async def test_summary_lists_subscriptions_invoices_and_payments(api: Api) -> None:
    body = (await api.get("/v1/accounts/A00000001/summary")).data
    assert body["success"] is True
    assert body["basicInfo"]["accountNumber"] == "A00000001"
    assert isinstance(body["subscriptions"], list)
    assert body["invoices"]
    assert all("paymentNumber" in p for p in body["payments"])


async def test_create_then_read_then_update_an_account(api: Api) -> None:
    created = await api.post("/v1/accounts", {**NEW_ACCOUNT, "crmId": "crm-1", "Tier__c": "gold"})
    assert created.status == 200
    assert created.data["success"] is True
    number = created.data["accountNumber"]
    assert created.data["billToContactId"]
    assert created.data["soldToContactId"]
    got = (await api.get(f"/v1/accounts/{number}")).data
    assert got["basicInfo"]["name"] == "Example Org"
    assert got["basicInfo"]["Tier__c"] == "gold"
    updated = await api.put(
        f"/v1/accounts/{number}", {"name": "Renamed", "billToContact": {"city": "Paris"}}
    )
    assert updated.data == {"success": True}
    got = (await api.get(f"/v1/accounts/{number}")).data
    assert got["basicInfo"]["name"] == "Renamed"
    assert got["billToContact"]["city"] == "Paris"
    assert got["billToContact"]["firstName"] == "Ada"
    ledger = await api.ledger()
    assert [(e["method"], e["account"]) for e in ledger] == [("POST", number), ("PUT", number)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "USD", "billToContact": {"firstName": "a", "lastName": "b"}}, "name"),
        ({"name": "x", "billToContact": {"firstName": "a", "lastName": "b"}}, "currency"),
        ({"name": "x", "currency": "USD"}, "billToContact"),
        (
            {"name": "x", "currency": "USD", "billToContact": {"firstName": "a"}},
            "billToContact.lastName",
        ),
        ({**NEW_ACCOUNT, "billCycleDay": 40}, "billCycleDay"),
    ],
)
async def test_invalid_account_bodies_are_400_and_apply_nothing(
    api: Api, body: dict[str, object], field: str
) -> None:
    reply = await api.post("/v1/accounts", body)
    assert reply.status == 400
    assert reply.data["success"] is False
    assert f"'{field}'" in reply.data["reasons"][0]["message"]
    assert await api.ledger() == []


async def test_a_json_array_body_is_a_400(api: Api) -> None:
    reply = await api.post("/v1/accounts", [1, 2])
    assert reply.status == 400
    assert reply.data["success"] is False


async def test_duplicate_account_number_is_a_business_error(api: Api) -> None:
    reply = await api.post("/v1/accounts", {**NEW_ACCOUNT, "accountNumber": "A00000001"})
    assert reply.status == 200
    assert reply.data["success"] is False


async def test_card_numbers_are_masked_and_never_stored(api: Api) -> None:
    card = {
        "cardNumber": "4111111111111111",
        "expirationMonth": 4,
        "expirationYear": 2031,
        "securityCode": "737",
        "cardHolderInfo": {"cardHolderName": "Ada"},
    }
    created = await api.post("/v1/accounts", {**NEW_ACCOUNT, "creditCard": card})
    number = created.data["accountNumber"]
    method = await api.post(
        "/v1/payment-methods",
        {
            "type": "CreditCard",
            "accountKey": number,
            "makeDefault": True,
            **{**card, "cardNumber": "5555555555554444"},
        },
    )
    assert method.data["success"] is True
    listed = (await api.get(f"/v1/accounts/{number}/payment-methods")).data
    assert listed["defaultPaymentMethodId"] == method.data["id"]
    assert sorted(c["cardNumber"] for c in listed["creditcard"]) == [
        "************1111",
        "************4444",
    ]
    stored = orjson.dumps(api.fz.fake.tenant(1).payment_methods).decode()
    answered = orjson.dumps(listed).decode()
    for secret in ("4111111111111111", "5555555555554444", "securityCode", '"737"'):
        assert secret not in stored
        assert secret not in answered
    bad = await api.post(
        "/v1/payment-methods",
        {
            "type": "CreditCard",
            "accountKey": number,
            "cardNumber": "4111-1111",
            "expirationMonth": 1,
            "expirationYear": 2030,
        },
    )
    assert bad.status == 400
    assert "4111" not in bad.text


async def test_seeded_data_never_contains_ironbank_error_words(api: Api) -> None:
    info = await api.control("GET", "seed-info")
    texts = [orjson.dumps(info).decode()]
    for number in info["accounts"]:
        texts.append((await api.get(f"/v1/accounts/{number}")).text)
        texts.append((await api.get(f"/v1/accounts/{number}/summary")).text)
        texts.append((await api.get(f"/v1/subscriptions/accounts/{number}")).text)
    texts.append((await api.get("/v1/catalog/products?pageSize=40")).text)
    everything = "\n".join(texts)
    assert "A00000012" in everything
    for word in IRONBANK_WORDS:
        assert word not in everything
