"""Record constructors shared by the seeder and the write handlers.

Card data is masked here, once: records never hold a full card number or a security code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from zproxy.testing.fake_zuora.state import Rec, TenantState

_PERIOD_MONTHS = {"Month": 1, "Quarter": 3, "Semi-Annual": 6, "Annual": 12}


def add_months(date: str, months: int) -> str:
    d = dt.date.fromisoformat(date)
    month = d.month - 1 + months
    year, month = d.year + month // 12, month % 12 + 1
    day = min(d.day, 28)
    return dt.date(year, month, day).isoformat()


def iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def iso_date(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()


def make_contact(state: TenantState, /, **fields: Any) -> Rec:
    contact: Rec = {
        "id": state.new_id(),
        "firstName": fields.get("firstName", ""),
        "lastName": fields.get("lastName", ""),
        "workEmail": fields.get("workEmail"),
        "personalEmail": fields.get("personalEmail"),
        "workPhone": fields.get("workPhone"),
        "address1": fields.get("address1"),
        "address2": fields.get("address2"),
        "city": fields.get("city"),
        "state": fields.get("state"),
        "county": fields.get("county"),
        "country": fields.get("country"),
        "zipCode": fields.get("zipCode"),
        "taxRegion": fields.get("taxRegion"),
    }
    return contact


def make_account(
    state: TenantState,
    *,
    name: str,
    currency: str,
    bill_to: Rec,
    sold_to: Rec,
    now: str,
    **extra: Any,
) -> Rec:
    number = extra.pop("accountNumber", None)
    while number is None or number in state.accounts:
        number = state.next_number("account")
    account: Rec = {
        "id": state.new_id(),
        "accountNumber": number,
        "name": name,
        "status": "Active",
        "currency": currency,
        "billCycleDay": extra.pop("billCycleDay", 1),
        "paymentTerm": extra.pop("paymentTerm", "Due Upon Receipt"),
        "autoPay": extra.pop("autoPay", False),
        "batch": extra.pop("batch", "Batch1"),
        "crmId": extra.pop("crmId", None),
        "notes": extra.pop("notes", None),
        "salesRep": extra.pop("salesRep", None),
        "parentId": None,
        "invoiceTemplateId": None,
        "communicationProfileId": None,
        "defaultPaymentMethodId": None,
        "paymentGateway": extra.pop("paymentGateway", None),
        "tags": extra.pop("tags", None),
        "billToContact": bill_to,
        "soldToContact": sold_to,
        "balance": 0.0,
        "creditBalance": 0.0,
        "totalInvoiceBalance": 0.0,
        "contractedMrr": 0.0,
        "createdDate": now,
        "updatedDate": now,
        "custom": {k: v for k, v in extra.items() if k.endswith("__c")},
    }
    return account


def make_rate_plan(
    state: TenantState, prp: Rec, product: Rec, quantity: float, start: str, term_months: int
) -> Rec:
    charges = []
    for prpc in prp["productRatePlanCharges"]:
        price = float(prpc["pricing"][0]["price"])
        qty = quantity if prpc["model"] == "PerUnit" else 1.0
        months = _PERIOD_MONTHS.get(prpc["billingPeriod"] or "", 0)
        recurring = prpc["type"] == "Recurring" and months > 0
        mrr = round(price * qty / months, 2) if recurring else 0.0
        tcv = round(price * qty * term_months / months, 2) if recurring else round(price * qty, 2)
        charges.append(
            {
                "id": state.new_id(),
                "number": state.next_number("charge"),
                "name": prpc["name"],
                "type": prpc["type"],
                "model": prpc["model"],
                "quantity": qty,
                "price": price,
                "uom": prpc["uom"],
                "billingPeriod": prpc["billingPeriod"],
                "currency": prpc["pricing"][0]["currency"],
                "effectiveStartDate": start,
                "effectiveEndDate": add_months(start, term_months),
                "chargedThroughDate": None,
                "segment": 1,
                "version": 1,
                "mrr": mrr,
                "tcv": tcv,
                "productRatePlanChargeId": prpc["id"],
            }
        )
    return {
        "id": state.new_id(),
        "productId": product["id"],
        "productName": product["name"],
        "productSku": product["sku"],
        "productRatePlanId": prp["id"],
        "productRatePlanNumber": prp["productRatePlanNumber"],
        "ratePlanName": prp["name"],
        "lastChangeType": "Add",
        "ratePlanCharges": charges,
    }


def make_subscription(
    state: TenantState, account: Rec, *, start: str, term_months: int, now: str, **opts: Any
) -> Rec:
    number = opts.get("subscriptionNumber")
    while number is None or number in state.subscriptions:
        number = state.next_number("subscription")
    auto_renew = bool(opts.get("autoRenew", True))
    return {
        "id": state.new_id(),
        "subscriptionNumber": number,
        "version": 1,
        "revision": "1.0",
        "isLatestVersion": True,
        "status": "Active",
        "accountId": account["id"],
        "accountNumber": account["accountNumber"],
        "accountName": account["name"],
        "invoiceOwnerAccountId": account["id"],
        "invoiceOwnerAccountNumber": account["accountNumber"],
        "invoiceOwnerAccountName": account["name"],
        "termType": opts.get("termType", "TERMED"),
        "initialTerm": term_months,
        "initialTermPeriodType": "Month",
        "currentTerm": term_months,
        "currentTermPeriodType": "Month",
        "renewalTerm": int(opts.get("renewalTerm", term_months)),
        "renewalTermPeriodType": "Month",
        "renewalSetting": opts.get("renewalSetting", "RENEW_WITH_SPECIFIC_TERM"),
        "autoRenew": auto_renew,
        "termStartDate": start,
        "termEndDate": add_months(start, term_months),
        "subscriptionStartDate": start,
        "subscriptionEndDate": None,
        "contractEffectiveDate": start,
        "serviceActivationDate": start,
        "customerAcceptanceDate": start,
        "cancelledDate": None,
        "orderNumber": opts.get("orderNumber"),
        "currency": account["currency"],
        "notes": opts.get("notes"),
        "createTime": now,
        "updateTime": now,
        "ratePlans": [],
        "custom": {},
    }


def make_invoice(state: TenantState, account: Rec, *, amount: float, date: str, paid: bool) -> Rec:
    amount = round(amount, 2)
    return {
        "id": state.new_id(),
        "invoiceNumber": state.next_number("invoice"),
        "accountId": account["id"],
        "accountNumber": account["accountNumber"],
        "invoiceDate": date,
        "dueDate": add_months(date, 1),
        "amount": amount,
        "amountWithoutTax": amount,
        "taxAmount": 0.0,
        "balance": 0.0 if paid else amount,
        "status": "Posted",
        "currency": account["currency"],
    }


def make_payment(
    state: TenantState,
    account: Rec,
    *,
    amount: float,
    date: str,
    method_id: str | None,
    applied: list[Rec],
) -> Rec:
    applied_amount = round(sum(a["appliedPaymentAmount"] for a in applied), 2)
    return {
        "id": state.new_id(),
        "number": state.next_number("payment"),
        "accountId": account["id"],
        "accountNumber": account["accountNumber"],
        "amount": round(amount, 2),
        "appliedAmount": applied_amount,
        "unappliedAmount": round(amount - applied_amount, 2),
        "effectiveDate": date,
        "status": "Processed",
        "type": "Electronic" if method_id else "External",
        "paymentMethodId": method_id,
        "currency": account["currency"],
        "paidInvoices": applied,
    }


def card_type(number: str) -> str:
    if number.startswith("4"):
        return "Visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or number[:2] == "22":
        return "MasterCard"
    if number[:2] in {"34", "37"}:
        return "AmericanExpress"
    return "Discover" if number.startswith("6") else "Visa"


def make_payment_method(
    state: TenantState,
    account: Rec,
    *,
    card_number: str,
    month: int,
    year: int,
    holder: str,
    now: str,
) -> Rec:
    """A credit card method; only the last four digits of ``card_number`` are kept."""
    return {
        "id": state.new_id(),
        "accountId": account["id"],
        "accountNumber": account["accountNumber"],
        "type": "CreditCard",
        "status": "Active",
        "isDefault": False,
        "cardNumber": "*" * (len(card_number) - 4) + card_number[-4:],
        "cardType": card_type(card_number),
        "expirationMonth": month,
        "expirationYear": year,
        "cardHolderInfo": {"cardHolderName": holder},
        "createdOn": now,
    }
