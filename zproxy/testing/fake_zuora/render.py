"""Compose v1 response bodies from stored records (zuora-api.md §4.1 shapes)."""

from __future__ import annotations

import re
from typing import Any

from zproxy.testing.fake_zuora.state import Rec, TenantState

_NUMERIC_VERSION = re.compile(r"^\d+(\.\d+)?$")
_DATE_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: From this minor version on, catalog products carry a URL instead of their rate plans.
RATE_PLANS_AS_URL_FROM = 230.0


def rate_plans_as_url(zuora_version: str | None) -> bool:
    """``Zuora-Version`` >= 230.0 or a date-form version; absent = the tenant default 186.0."""
    if not zuora_version:
        return False
    value = zuora_version.strip()
    if _DATE_VERSION.match(value):
        return True
    return bool(_NUMERIC_VERSION.match(value)) and float(value) >= RATE_PLANS_AS_URL_FROM


def _ok(body: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, **body}


def account_detail(acct: Rec) -> dict[str, Any]:
    basic = {
        k: acct[k]
        for k in (
            "id",
            "accountNumber",
            "name",
            "status",
            "batch",
            "crmId",
            "notes",
            "parentId",
            "salesRep",
            "tags",
            "invoiceTemplateId",
            "communicationProfileId",
        )
    }
    basic["defaultPaymentMethodId"] = acct["defaultPaymentMethodId"]
    basic["lastMetricsUpdate"] = acct["updatedDate"]
    basic.update(acct["custom"])
    return _ok(
        {
            "basicInfo": basic,
            "billingAndPayment": {
                "billCycleDay": acct["billCycleDay"],
                "currency": acct["currency"],
                "paymentTerm": acct["paymentTerm"],
                "paymentGateway": acct["paymentGateway"],
                "autoPay": acct["autoPay"],
                "defaultPaymentMethodId": acct["defaultPaymentMethodId"],
                "invoiceDeliveryPrefsEmail": True,
                "invoiceDeliveryPrefsPrint": False,
                "additionalEmailAddresses": [],
            },
            "metrics": {
                "balance": acct["balance"],
                "currency": acct["currency"],
                "contractedMrr": acct["contractedMrr"],
                "creditBalance": acct["creditBalance"],
                "totalInvoiceBalance": acct["totalInvoiceBalance"],
                "totalDebitMemoBalance": 0.0,
                "unappliedPaymentAmount": 0.0,
                "unappliedCreditMemoAmount": 0.0,
                "reservedPaymentAmount": 0.0,
            },
            "billToContact": acct["billToContact"],
            "soldToContact": acct["soldToContact"],
            "taxInfo": None,
        }
    )


_SUMMARY_BASIC = (
    "id",
    "accountNumber",
    "name",
    "status",
    "balance",
    "currency",
    "billCycleDay",
    "autoPay",
    "crmId",
    "tags",
    "salesRep",
)
_SUMMARY_INVOICE = ("id", "invoiceNumber", "invoiceDate", "dueDate", "amount", "balance", "status")


def _summary_basic(
    state: TenantState, acct: Rec, invoices: list[Rec], payments: list[Rec]
) -> dict[str, Any]:
    basic = {k: acct[k] for k in _SUMMARY_BASIC}
    method = state.payment_methods.get(acct["defaultPaymentMethodId"] or "")
    basic["defaultPaymentMethod"] = None if method is None else _summary_method(method)
    basic["lastInvoiceDate"] = max((i["invoiceDate"] for i in invoices), default=None)
    last_payment = max(payments, key=lambda p: p["effectiveDate"], default=None)
    basic["lastPaymentAmount"] = last_payment["amount"] if last_payment else None
    basic["lastPaymentDate"] = last_payment["effectiveDate"] if last_payment else None
    return basic


def _summary_payment(pay: Rec) -> dict[str, Any]:
    return {
        "id": pay["id"],
        "paymentNumber": pay["number"],
        "paymentType": pay["type"],
        "effectiveDate": pay["effectiveDate"],
        "status": pay["status"],
        "paidInvoices": pay["paidInvoices"],
    }


def account_summary(state: TenantState, acct: Rec) -> dict[str, Any]:
    number = acct["accountNumber"]
    invoices, payments = state.invoices_of(number), state.payments_of(number)
    return _ok(
        {
            "basicInfo": _summary_basic(state, acct, invoices, payments),
            "billToContact": acct["billToContact"],
            "soldToContact": acct["soldToContact"],
            "taxInfo": None,
            "subscriptions": [_summary_subscription(s) for s in state.subscriptions_of(number)],
            "invoices": [{k: i[k] for k in _SUMMARY_INVOICE} for i in invoices],
            "payments": [_summary_payment(p) for p in payments],
            "usage": [],
        }
    )


def _summary_method(method: Rec) -> dict[str, Any]:
    return {
        "id": method["id"],
        "paymentMethodType": method["type"],
        "creditCardNumber": method["cardNumber"],
        "creditCardType": method["cardType"],
        "creditCardExpirationMonth": method["expirationMonth"],
        "creditCardExpirationYear": method["expirationYear"],
    }


def _summary_subscription(sub: Rec) -> dict[str, Any]:
    keys = (
        "id",
        "subscriptionNumber",
        "status",
        "termType",
        "termStartDate",
        "termEndDate",
        "subscriptionStartDate",
        "initialTerm",
        "renewalTerm",
        "autoRenew",
    )
    out = {k: sub[k] for k in keys}
    out["ratePlans"] = [
        {
            "productId": p["productId"],
            "productName": p["productName"],
            "productSku": p["productSku"],
            "productRatePlanId": p["productRatePlanId"],
            "ratePlanName": p["ratePlanName"],
        }
        for p in sub["ratePlans"]
    ]
    return out


def subscription(sub: Rec) -> dict[str, Any]:
    """The full subscription object (without the envelope)."""
    out = {k: v for k, v in sub.items() if k != "custom"}
    contracted = sum(c["mrr"] for p in sub["ratePlans"] for c in p["ratePlanCharges"])
    out["contractedMrr"] = round(contracted, 2) if sub["status"] == "Active" else 0.0
    out["totalContractedValue"] = round(
        sum(c["tcv"] for p in sub["ratePlans"] for c in p["ratePlanCharges"]), 2
    )
    out["statusHistory"] = [{"status": sub["status"], "startDate": sub["contractEffectiveDate"]}]
    out.update(sub["custom"])
    return out


def subscription_detail(sub: Rec) -> dict[str, Any]:
    return _ok(subscription(sub))


def product(prod: Rec, plans_as_url: bool) -> dict[str, Any]:
    if not plans_as_url:
        return prod
    out = dict(prod)
    out["productRatePlans"] = f"/v1/rateplan/{prod['id']}/productRatePlan"
    return out


def invoice(inv: Rec) -> dict[str, Any]:
    return _ok(dict(inv))


def payment(pay: Rec) -> dict[str, Any]:
    return _ok(dict(pay))


def payment_methods(state: TenantState, acct: Rec) -> dict[str, Any]:
    cards = [
        {k: v for k, v in m.items() if k != "accountNumber"}
        for m in state.payment_methods_of(acct["accountNumber"])
    ]
    return _ok({"defaultPaymentMethodId": acct["defaultPaymentMethodId"], "creditcard": cards})
