"""One tenant's data: records stored as v1-shaped dicts, indexed for O(1) lookups.

Records are plain dicts close to Zuora's JSON (camelCase); ``render`` composes responses and
``zoql`` maps PascalCase fields onto them. Ids are 32 hex chars drawn from the tenant's seeded
RNG, so a reset (or a restart with the same seed) reproduces every id.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

Rec = dict[str, Any]

_NUMBER_FORMATS = {
    "account": "A{:08d}",
    "subscription": "A-S{:08d}",
    "charge": "C-{:08d}",
    "invoice": "INV{:08d}",
    "payment": "P-{:08d}",
    "order": "O-{:08d}",
}


@dataclass(slots=True)
class TenantState:
    tenant: int
    rng: random.Random
    counters: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    accounts: dict[str, Rec] = field(default_factory=dict)
    subscriptions: dict[str, Rec] = field(default_factory=dict)
    products: list[Rec] = field(default_factory=list)
    invoices: dict[str, Rec] = field(default_factory=dict)
    payments: dict[str, Rec] = field(default_factory=dict)
    payment_methods: dict[str, Rec] = field(default_factory=dict)
    orders: dict[str, Rec] = field(default_factory=dict)
    #: Id -> number (or id -> record for catalog objects).
    ids: dict[str, str] = field(default_factory=dict)
    catalog_ids: dict[str, Rec] = field(default_factory=dict)
    #: Product rate plan id -> its product.
    plan_product: dict[str, Rec] = field(default_factory=dict)
    by_account: defaultdict[str, dict[str, list[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    #: Writes in flight per account number (for the lock competition fault).
    writing: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def new_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def next_number(self, kind: str) -> str:
        self.counters[kind] += 1
        return _NUMBER_FORMATS[kind].format(self.counters[kind])

    # -- adding -----------------------------------------------------------------------------

    def add_account(self, rec: Rec) -> None:
        self.accounts[rec["accountNumber"]] = rec
        self.ids[rec["id"]] = rec["accountNumber"]

    def add_subscription(self, rec: Rec) -> None:
        self.subscriptions[rec["subscriptionNumber"]] = rec
        self.ids[rec["id"]] = rec["subscriptionNumber"]
        self.by_account[rec["accountNumber"]]["subscriptions"].append(rec["subscriptionNumber"])

    def reindex_subscription(self, rec: Rec) -> None:
        """A new version got a new id; the old ids keep resolving to the subscription."""
        self.ids[rec["id"]] = rec["subscriptionNumber"]

    def add_invoice(self, rec: Rec) -> None:
        self.invoices[rec["invoiceNumber"]] = rec
        self.ids[rec["id"]] = rec["invoiceNumber"]
        self.by_account[rec["accountNumber"]]["invoices"].append(rec["invoiceNumber"])

    def add_payment(self, rec: Rec) -> None:
        self.payments[rec["number"]] = rec
        self.ids[rec["id"]] = rec["number"]
        self.by_account[rec["accountNumber"]]["payments"].append(rec["number"])

    def add_payment_method(self, rec: Rec) -> None:
        self.payment_methods[rec["id"]] = rec
        self.by_account[rec["accountNumber"]]["payment_methods"].append(rec["id"])

    def add_product(self, rec: Rec) -> None:
        self.products.append(rec)
        self.catalog_ids[rec["id"]] = rec
        self.catalog_ids[rec["sku"]] = rec
        for plan in rec["productRatePlans"]:
            self.catalog_ids[plan["id"]] = plan
            self.plan_product[plan["id"]] = rec
            for charge in plan["productRatePlanCharges"]:
                self.catalog_ids[charge["id"]] = charge

    # -- lookups by number or id ------------------------------------------------------------

    def _find(self, table: dict[str, Rec], key: str) -> Rec | None:
        found = table.get(key)
        if found is None and key in self.ids:
            found = table.get(self.ids[key])
        return found

    def account(self, key: str) -> Rec | None:
        return self._find(self.accounts, key)

    def subscription(self, key: str) -> Rec | None:
        return self._find(self.subscriptions, key)

    def invoice(self, key: str) -> Rec | None:
        return self._find(self.invoices, key)

    def payment(self, key: str) -> Rec | None:
        return self._find(self.payments, key)

    def product(self, key: str) -> Rec | None:
        found = self.catalog_ids.get(key)
        return found if found is not None and "productRatePlans" in found else None

    def product_rate_plan(self, plan_id: str) -> Rec | None:
        return self.catalog_ids.get(plan_id) if plan_id in self.plan_product else None

    def related(self, account_number: str, kind: str) -> list[str]:
        return self.by_account[account_number][kind] if account_number in self.by_account else []

    def subscriptions_of(self, account_number: str) -> list[Rec]:
        return [self.subscriptions[n] for n in self.related(account_number, "subscriptions")]

    def invoices_of(self, account_number: str) -> list[Rec]:
        return [self.invoices[n] for n in self.related(account_number, "invoices")]

    def payments_of(self, account_number: str) -> list[Rec]:
        return [self.payments[n] for n in self.related(account_number, "payments")]

    def payment_methods_of(self, account_number: str) -> list[Rec]:
        return [self.payment_methods[i] for i in self.related(account_number, "payment_methods")]

    # -- derived values ---------------------------------------------------------------------

    def refresh_metrics(self, account: Rec) -> None:
        """Recompute balance and MRR from the account's invoices and subscriptions."""
        number = account["accountNumber"]
        balance = round(sum(i["balance"] for i in self.invoices_of(number)), 2)
        mrr = 0.0
        for sub in self.subscriptions_of(number):
            if sub["status"] == "Active":
                mrr += sum(c["mrr"] for p in sub["ratePlans"] for c in p["ratePlanCharges"])
        account["balance"] = balance
        account["totalInvoiceBalance"] = balance
        account["contractedMrr"] = round(mrr, 2)
