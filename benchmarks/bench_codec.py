"""Compare entry compression on Zuora-shaped JSON: sizes and encode/decode microseconds.

Run: ``.venv/bin/python benchmarks/bench_codec.py``. Bodies: a ~2 KB account
(``GET /v1/accounts/{key}``) and a ~40 KB catalog page (``GET /v1/catalog/products``), built
from the field names in zuora-api.md §4.1 with random ids and amounts (seeded), a
payment-method list and a 404 error. ``+d`` codecs use the shipped dictionary
(``zproxy.store.zdict``); it is built from the same documented shapes as these bodies, so its
gain here is an upper bound of what real traffic (custom fields, other endpoints) sees.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

from zproxy.store.cache import CacheEntry
from zproxy.store.codec import RAW, ZLIB, ZSTD, Codec

RNG = random.Random(42)


def zid() -> str:
    return uuid.UUID(int=RNG.getrandbits(128)).hex


def contact(name: str) -> dict[str, Any]:
    return {
        "id": zid(), "firstName": name, "lastName": f"Doe{RNG.randint(1, 999)}",
        "workEmail": f"{name.lower()}@example.com", "personalEmail": None,
        "workPhone": f"+1-555-{RNG.randint(1000, 9999)}",
        "address1": f"{RNG.randint(1, 999)} Main St",
        "address2": None, "city": "San Francisco", "state": "California", "county": None,
        "country": "United States", "zipCode": f"94{RNG.randint(100, 999)}", "taxRegion": None,
    }  # fmt: skip


def account() -> dict[str, Any]:
    return {
        "success": True,
        "basicInfo": {
            "id": zid(), "accountNumber": f"A{RNG.randint(10**7, 10**8)}", "name": "Example Corp",
            "status": "Active", "batch": "Batch1", "crmId": zid()[:18], "notes": None,
            "parentId": None, "salesRep": None, "tags": None, "invoiceTemplateId": zid(),
            "communicationProfileId": zid(), "defaultPaymentMethodId": zid(),
            "lastMetricsUpdate": "2026-11-20T10:00:00Z", "sequenceSetId": None,
        },
        "billingAndPayment": {
            "billCycleDay": RNG.randint(1, 28), "currency": "USD", "paymentTerm": "Net 30",
            "paymentGateway": "Stripe", "autoPay": True, "defaultPaymentMethodId": zid(),
            "invoiceDeliveryPrefsEmail": True, "invoiceDeliveryPrefsPrint": False,
            "additionalEmailAddresses": [],
        },
        "metrics": {
            "balance": round(RNG.uniform(0, 5000), 2), "currency": "USD",
            "contractedMrr": round(RNG.uniform(0, 900), 2), "creditBalance": 0.0,
            "totalInvoiceBalance": round(RNG.uniform(0, 5000), 2), "totalDebitMemoBalance": 0.0,
            "unappliedPaymentAmount": 0.0, "unappliedCreditMemoAmount": 0.0,
            "reservedPaymentAmount": 0.0,
        },
        "billToContact": contact("Jane"),
        "soldToContact": contact("John"),
        "shipToContact": contact("Jim"),
        "taxInfo": None,
    }  # fmt: skip


def charge() -> dict[str, Any]:
    price = RNG.choice([19.0, 29.0, 99.0, 348.0, 1188.0])
    return {
        "id": zid(), "name": RNG.choice(["Seats", "Storage", "CI minutes"]), "type": "Recurring",
        "model": RNG.choice(["PerUnit", "Tiered", "FlatFee"]), "billingPeriod": "Annual",
        "billingTiming": "IN_ADVANCE", "defaultQuantity": 1, "uom": "Seat",
        "pricingSummary": [f"USD{price}"],
        "pricing": [{"currency": "USD", "price": price, "tiers": None, "includedUnits": None,
                     "overagePrice": None, "discountAmount": None, "discountPercentage": None}],
    }  # fmt: skip


def catalog(target: int) -> bytes:
    products: list[dict[str, Any]] = []
    doc: dict[str, Any] = {"success": True, "nextPage": None, "products": products}
    while len(orjson.dumps(doc)) < target:
        n = len(products)
        products.append({
            "id": zid(), "sku": f"SKU-{RNG.randint(10**5, 10**6)}", "productNumber": f"PC-{n:08d}",
            "name": f"GitLab plan {n}", "description": "Subscription, billed yearly per user",
            "category": "Base Products", "effectiveStartDate": "2020-01-01",
            "effectiveEndDate": "2099-12-31", "tags": None, "productFeatures": [],
            "productRatePlans": [{
                "id": zid(), "productRatePlanNumber": f"PRP-{RNG.randint(10**5, 10**6)}",
                "name": f"Plan {n}-{j}", "description": "", "status": "Active", "grade": None,
                "effectiveStartDate": "2020-01-01", "effectiveEndDate": "2099-12-31",
                "productRatePlanCharges": [charge() for _ in range(RNG.randint(1, 3))],
            } for j in range(2)],
        })  # fmt: skip
    return orjson.dumps(doc)


def payment_methods() -> bytes:
    card = {
        "id": zid(), "accountId": zid(), "type": "CreditCard", "status": "Active",
        "isDefault": True, "cardNumber": f"************{RNG.randint(1000, 9999)}",
        "cardType": "Visa", "expirationMonth": RNG.randint(1, 12), "expirationYear": 2031,
        "cardHolderInfo": {"cardHolderName": "Jane Doe"}, "createdOn": "2025-05-06T07:08:09Z",
    }  # fmt: skip
    return orjson.dumps(
        {"success": True, "defaultPaymentMethodId": card["id"], "creditcard": [card]}
    )


def not_found() -> bytes:
    return orjson.dumps({
        "success": False, "processId": zid()[:16].upper(), "requestId": str(uuid.UUID(zid())),
        "reasons": [{"code": 50000040, "message": "Cannot find entity by key: 'A404'."}],
    })  # fmt: skip


def micros(fn: Callable[[], object], rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> None:
    bodies = {
        "account": orjson.dumps(account()),
        "catalog": catalog(40_000),
        "methods": payment_methods(),
        "404": not_found(),
    }
    codecs = {
        "raw": Codec(RAW),
        "zlib-1": Codec(ZLIB, level=1, dictionary=False),
        "zlib-6": Codec(ZLIB, level=6, dictionary=False),
        "zlib-6+d": Codec(ZLIB, level=6),
        "zstd-1": Codec(ZSTD, level=1, dictionary=False),
        "zstd-3": Codec(ZSTD, level=3, dictionary=False),
        "zstd-1+d": Codec(ZSTD, level=1),
        "zstd-3+d": Codec(ZSTD, level=3),
        "zstd-6+d": Codec(ZSTD, level=6),
    }
    heads = ("json B", "stored B", "ratio", "enc µs", "dec µs")
    print(f"{'body':8} {'codec':8} " + " ".join(f"{h:>8}" for h in heads))
    for name, body in bodies.items():
        entry = CacheEntry(200, (("Content-Type", "application/json"),), body, time.time(), ("t",))
        for cname, codec in codecs.items():
            data = codec.encode(entry)
            assert codec.decode(data) == entry
            enc = micros(partial(codec.encode, entry), 500)
            dec = micros(partial(codec.decode, data), 500)
            ratio = len(data) / len(body)
            print(
                f"{name:8} {cname:8} {len(body):8} {len(data):8} {ratio:8.2f} {enc:8.1f} {dec:8.1f}"
            )


if __name__ == "__main__":
    main()
