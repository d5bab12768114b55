"""The seeded tenant: a product catalog, accounts with contacts, subscriptions, invoices,
payments and (masked) payment methods. Same ``seed`` + tenant -> same data, ids included.

Seeded dates are fixed (2024/2025) so data does not depend on the clock. Nothing here contains
the error words CustomersDot's client scans 200 bodies for (INVALID_VALUE, ...).
"""

from __future__ import annotations

import random
from typing import Any

from zproxy.testing.fake_zuora.records import (
    add_months,
    make_account,
    make_contact,
    make_invoice,
    make_payment,
    make_payment_method,
    make_rate_plan,
    make_subscription,
)
from zproxy.testing.fake_zuora.state import Rec, TenantState

DEFAULT_ACCOUNTS = 50

# product name, category, [(plan name, [(charge, type, model, period, uom, price)])]
_Charge = tuple[str, str, str, str | None, str | None, float]
CATALOG: list[tuple[str, str, list[tuple[str, list[_Charge]]]]] = [
    (
        "Premium SaaS",
        "Base Products",
        [
            (
                "Premium SaaS - 1 Year",
                [("Premium seats", "Recurring", "PerUnit", "Annual", "Seat", 348.0)],
            ),
            (
                "Premium SaaS - Monthly",
                [("Premium seats", "Recurring", "PerUnit", "Month", "Seat", 29.0)],
            ),
        ],
    ),
    (
        "Ultimate SaaS",
        "Base Products",
        [
            (
                "Ultimate SaaS - 1 Year",
                [("Ultimate seats", "Recurring", "PerUnit", "Annual", "Seat", 1188.0)],
            ),
        ],
    ),
    (
        "Premium Self-Managed",
        "Base Products",
        [
            (
                "Premium Self-Managed - 1 Year",
                [("Premium seats", "Recurring", "PerUnit", "Annual", "Seat", 348.0)],
            ),
        ],
    ),
    (
        "Ultimate Self-Managed",
        "Base Products",
        [
            (
                "Ultimate Self-Managed - 1 Year",
                [("Ultimate seats", "Recurring", "PerUnit", "Annual", "Seat", 1188.0)],
            ),
        ],
    ),
    (
        "Storage",
        "Add On Services",
        [
            (
                "Storage 10 GB - 1 Year",
                [("Storage packs", "Recurring", "PerUnit", "Annual", "Pack", 60.0)],
            ),
        ],
    ),
    (
        "Compute Minutes",
        "Add On Services",
        [
            ("Compute 1000 minutes", [("Compute minutes", "OneTime", "FlatFee", None, None, 10.0)]),
        ],
    ),
    (
        "Support Plus",
        "Add On Services",
        [
            (
                "Support Plus - 1 Year",
                [
                    ("Support fee", "Recurring", "FlatFee", "Annual", None, 1200.0),
                    ("Onboarding", "OneTime", "FlatFee", None, None, 500.0),
                ],
            ),
        ],
    ),
]

_FIRST = [
    "Ada",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Radia",
    "Alan",
    "Frances",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Perlman",
    "Kay",
    "Allen",
]
_ORG = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
]
_SUFFIX = ["Inc", "LLC", "GmbH", "Ltd", "Labs", "Group"]
_PLACES = [
    ("US", "California", "San Francisco", "94105"),
    ("US", "New York", "New York", "10001"),
    ("DE", None, "Berlin", "10115"),
    ("GB", None, "London", "EC1A 1BB"),
    ("NL", None, "Utrecht", "3511"),
]
_TEST_CARDS = ["4111111111111111", "5555555555554444", "378282246310005"]


def _product(state: TenantState, index: int, entry: tuple[str, str, list[Any]]) -> Rec:
    name, category, plans = entry
    product: Rec = {
        "id": state.new_id(),
        "sku": f"SKU-{index:08d}",
        "productNumber": f"PC-{index:08d}",
        "name": name,
        "description": f"{name} (fake catalog)",
        "category": category,
        "effectiveStartDate": "2020-01-01",
        "effectiveEndDate": "2099-12-31",
        "tags": None,
        "productFeatures": [],
        "productRatePlans": [],
    }
    for plan_name, charges in plans:
        state.counters["prp"] += 1
        plan: Rec = {
            "id": state.new_id(),
            "productRatePlanNumber": f"PRP-{state.counters['prp']:08d}",
            "name": plan_name,
            "description": plan_name,
            "status": "Active",
            "grade": None,
            "effectiveStartDate": "2020-01-01",
            "effectiveEndDate": "2099-12-31",
            "productRatePlanCharges": [_charge(state, c) for c in charges],
        }
        product["productRatePlans"].append(plan)
    return product


def _charge(state: TenantState, charge: _Charge) -> Rec:
    name, ctype, model, period, uom, price = charge
    summary = f"USD{price:g}" + (f"/{uom}" if uom else "")
    return {
        "id": state.new_id(),
        "name": name,
        "type": ctype,
        "model": model,
        "billingPeriod": period,
        "billingTiming": "IN_ADVANCE",
        "defaultQuantity": 1,
        "uom": uom,
        "pricingSummary": [summary],
        "pricing": [
            {
                "currency": "USD",
                "price": price,
                "tiers": [],
                "includedUnits": None,
                "overagePrice": None,
                "discountAmount": None,
                "discountPercentage": None,
            }
        ],
    }


def _seed_account(state: TenantState, rng: random.Random, index: int) -> Rec:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    country, region, city, zipcode = rng.choice(_PLACES)
    email = f"{first.lower()}.{last.lower()}{index}@example.com"
    contact = make_contact(
        state,
        firstName=first,
        lastName=last,
        workEmail=email,
        country=country,
        state=region,
        city=city,
        zipCode=zipcode,
        address1=f"{rng.randint(1, 999)} Main Street",
    )
    name = f"{rng.choice(_ORG)} {rng.choice(_SUFFIX)} {index}"
    return make_account(
        state,
        name=name,
        currency="USD",
        bill_to=contact,
        sold_to=contact,
        now="2024-01-01T00:00:00+00:00",
        billCycleDay=rng.randint(1, 28),
        autoPay=rng.random() < 0.6,
        crmId=f"crm-{index:05d}",
    )


def _seed_billing(state: TenantState, rng: random.Random, account: Rec) -> None:
    card = rng.choice(_TEST_CARDS)
    method = make_payment_method(
        state,
        account,
        card_number=card,
        month=rng.randint(1, 12),
        year=2029,
        holder=account["billToContact"]["firstName"],
        now="2024-01-01T00:00:00+00:00",
    )
    method["isDefault"] = True
    state.add_payment_method(method)
    account["defaultPaymentMethodId"] = method["id"]
    for n in range(rng.randint(1, 3)):
        date = add_months("2024-01-01", 4 * n + rng.randint(0, 3))
        paid = rng.random() < 0.7
        invoice = make_invoice(
            state, account, amount=rng.choice([29.0, 348.0, 1188.0, 60.0]), date=date, paid=paid
        )
        state.add_invoice(invoice)
        if paid:
            applied = [
                {
                    "invoiceId": invoice["id"],
                    "invoiceNumber": invoice["invoiceNumber"],
                    "appliedPaymentAmount": invoice["amount"],
                }
            ]
            payment = make_payment(
                state,
                account,
                amount=invoice["amount"],
                date=date,
                method_id=method["id"],
                applied=applied,
            )
            state.add_payment(payment)


def _seed_subscriptions(state: TenantState, rng: random.Random, account: Rec) -> None:
    plans = [p for prod in state.products for p in prod["productRatePlans"]]
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
        plan = rng.choice(plans)
        start = add_months("2024-01-01", rng.randint(0, 18))
        sub = make_subscription(
            state, account, start=start, term_months=12, now=f"{start}T00:00:00+00:00"
        )
        sub["ratePlans"].append(
            make_rate_plan(
                state, plan, state.plan_product[plan["id"]], float(rng.randint(1, 50)), start, 12
            )
        )
        state.add_subscription(sub)


def seed_tenant(tenant: int, seed: int, accounts: int = DEFAULT_ACCOUNTS) -> TenantState:
    """Build tenant ``tenant``'s data for ``seed``; the same inputs give the same data."""
    state = TenantState(tenant=tenant, rng=random.Random(f"fake-zuora/{seed}/{tenant}/ids"))
    data_rng = random.Random(f"fake-zuora/{seed}/{tenant}/data")
    for index, entry in enumerate(CATALOG, start=1):
        state.add_product(_product(state, index, entry))
    for index in range(1, accounts + 1):
        account = _seed_account(state, data_rng, index)
        state.add_account(account)
        _seed_subscriptions(state, data_rng, account)
        _seed_billing(state, data_rng, account)
        state.refresh_metrics(account)
    return state
