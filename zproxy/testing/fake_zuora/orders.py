"""``POST /v1/orders`` and its preview: order actions applied to working copies, committed
all at once, so an order either applies completely or not at all."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zproxy.testing.fake_zuora import subscription_ops as ops
from zproxy.testing.fake_zuora.handlers_accounts import account_from_body, store_account
from zproxy.testing.fake_zuora.records import (
    add_months,
    make_invoice,
    make_payment,
    make_subscription,
)
from zproxy.testing.fake_zuora.state import Rec, TenantState
from zproxy.testing.fake_zuora.validate import Fields

ORDER_CODE = 53100020
_PERIOD_MONTHS = {"Month": 1, "Quarter": 3, "Semi_Annual": 6, "Annual": 12, "Year": 12}


@dataclass(slots=True)
class Draft:
    """An order being built: nothing in ``state`` changes until ``commit``."""

    state: TenantState
    account: Rec
    order_date: str
    now: str
    new_account: tuple[Rec, Rec | None] | None = None
    working: dict[str, Rec] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    new_charges: list[Rec] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def target(self, number: str | None) -> Rec:
        if number is None:
            raise ops.OpError(ORDER_CODE, "subscriptionNumber is required for this order action.")
        if number not in self.working:
            found = self.state.subscription(number)
            if found is None or found["accountNumber"] != self.account["accountNumber"]:
                raise ops.OpError(ORDER_CODE, f"Invalid subscription number: {number}.")
            self.working[found["subscriptionNumber"]] = copy.deepcopy(found)
            number = found["subscriptionNumber"]
        return self.working[number]


def _term(terms: Fields | None) -> tuple[int, dict[str, Any]]:
    if terms is None:
        return 12, {}
    initial = terms.obj("initialTerm")
    months = 12
    opts: dict[str, Any] = {}
    if initial is not None:
        period = initial.integer("period", 1, 1200, default=12) or 12
        months = period * _PERIOD_MONTHS.get(initial.text("periodType") or "Month", 1)
        opts["termType"] = initial.text("termType") or "TERMED"
    renewals = terms.objs("renewalTerms")
    if renewals:
        opts["renewalTerm"] = renewals[0].integer("period", 1, 1200, default=months)
    if terms.has("autoRenew"):
        opts["autoRenew"] = terms.flag("autoRenew")
    if terms.has("renewalSetting"):
        opts["renewalSetting"] = terms.text("renewalSetting")
    return months, opts


def _quantity(override: Fields) -> Any:
    pricing = override.data.get("pricing")
    if isinstance(pricing, dict):
        for value in pricing.values():
            if isinstance(value, dict) and "quantity" in value:
                return value["quantity"]
    return override.data.get("quantity")


def _plan(draft: Draft, spec: Fields, start: str, term: int) -> Rec:
    overrides = spec.objs("chargeOverrides")
    quantity = _quantity(overrides[0]) if overrides else spec.data.get("quantity")
    plan = ops.build_plan(draft.state, spec.data.get("productRatePlanId"), quantity, start, term)
    draft.new_charges.extend(plan["ratePlanCharges"])
    return plan


def _create(draft: Draft, entry: Fields, action: Fields) -> None:
    spec = action.obj("createSubscription", required=True)
    assert spec is not None
    months, opts = _term(spec.obj("terms"))
    number = spec.text("subscriptionNumber") or entry.text("subscriptionNumber")
    if number is not None and (number in draft.state.subscriptions or number in draft.working):
        raise ops.OpError(ORDER_CODE, f"The subscription number {number} is already in use.")
    start = draft.order_date
    sub = make_subscription(
        draft.state,
        draft.account,
        start=start,
        term_months=months,
        now=draft.now,
        subscriptionNumber=number,
        notes=spec.text("notes", max_len=500),
        **opts,
    )
    for rp in spec.objs("subscribeToRatePlans", required=True):
        sub["ratePlans"].append(_plan(draft, rp, start, months))
    draft.working[sub["subscriptionNumber"]] = sub
    draft.created.append(sub["subscriptionNumber"])


def _add(draft: Draft, entry: Fields, action: Fields) -> None:
    sub = draft.target(entry.text("subscriptionNumber"))
    ops.require_active(sub)
    spec = action.obj("addProduct", required=True)
    assert spec is not None
    sub["ratePlans"].append(_plan(draft, spec, draft.order_date, int(sub["currentTerm"])))


def _update(draft: Draft, entry: Fields, action: Fields) -> None:
    sub = draft.target(entry.text("subscriptionNumber"))
    ops.require_active(sub)
    spec = action.obj("updateProduct", required=True)
    assert spec is not None
    plan = ops.find_plan(sub, spec.data.get("ratePlanId"))
    for change in spec.objs("chargeUpdates", required=True):
        quantity = _quantity(change)
        charges = ops.quantity_targets(plan, change.data.get("chargeNumber"), quantity)
        ops.set_quantity(plan, charges, quantity)


def _remove(draft: Draft, entry: Fields, action: Fields) -> None:
    sub = draft.target(entry.text("subscriptionNumber"))
    ops.require_active(sub)
    spec = action.obj("removeProduct", required=True)
    assert spec is not None
    sub["ratePlans"].remove(ops.find_plan(sub, spec.data.get("ratePlanId")))


def _cancel(draft: Draft, entry: Fields, action: Fields) -> None:
    sub = draft.target(entry.text("subscriptionNumber"))
    spec = action.obj("cancelSubscription", required=True)
    assert spec is not None
    policy = spec.text("cancellationPolicy")
    ops.cancel(sub, policy, spec.date("cancellationEffectiveDate"), draft.order_date, draft.now)


def _renew(draft: Draft, entry: Fields, _action: Fields) -> None:
    sub = draft.target(entry.text("subscriptionNumber"))
    ops.require_active(sub)
    sub["termStartDate"] = sub["termEndDate"]
    sub["termEndDate"] = add_months(sub["termEndDate"], int(sub["renewalTerm"]))


ACTIONS: dict[str, Callable[[Draft, Fields, Fields], None]] = {
    "CreateSubscription": _create,
    "AddProduct": _add,
    "UpdateProduct": _update,
    "RemoveProduct": _remove,
    "CancelSubscription": _cancel,
    "RenewSubscription": _renew,
}


def draft_order(state: TenantState, body: Fields, now: str) -> Draft:
    """Validate the order and run its actions on copies. Raises ``OpError`` or ``Reply``."""
    order_date = body.date("orderDate")
    if order_date is None:
        raise body.fail("orderDate", "is required.", 50000022)
    new_account = body.obj("newAccount")
    if new_account is not None:
        acct, method = account_from_body(state, new_account, now)
        draft = Draft(state, acct, order_date, now, new_account=(acct, method))
    else:
        key = body.req_str("existingAccountNumber")
        found = state.account(key)
        if found is None:
            raise ops.OpError(ORDER_CODE, f"Invalid existingAccountNumber: {key}.")
        draft = Draft(state, found, order_date, now)
    for entry in body.objs("subscriptions", required=True):
        for index, action in enumerate(entry.objs("orderActions", required=True)):
            kind = action.req_str("type")
            if kind not in ACTIONS:
                raise ops.OpError(ORDER_CODE, f"Unsupported order action type: {kind}.")
            ACTIONS[kind](draft, entry, action)
            draft.actions.append(
                {
                    "subscriptionNumber": entry.text("subscriptionNumber"),
                    "type": kind,
                    "sequence": index,
                }
            )
    return draft


def first_period_amount(draft: Draft) -> float:
    return round(sum(float(c["price"]) * float(c["quantity"]) for c in draft.new_charges), 2)


def commit(draft: Draft, number: str, options: Fields | None) -> dict[str, Any]:
    """Store everything the order made; returns the create-order response body."""
    state, acct = draft.state, draft.account
    if draft.new_account is not None:
        store_account(state, *draft.new_account)
    for sub_number, sub in draft.working.items():
        if sub_number in draft.created:
            sub["orderNumber"] = number
            state.add_subscription(sub)
        else:
            if sub["ratePlans"] != state.subscriptions[sub_number]["ratePlans"]:
                ops.new_version(state, sub, draft.now)
            state.subscriptions[sub_number] = sub
    out: dict[str, Any] = {
        "success": True,
        "orderNumber": number,
        "accountNumber": acct["accountNumber"],
        "accountId": acct["id"],
        "status": "Completed",
        "subscriptionNumbers": list(draft.working),
        "subscriptionIds": [s["id"] for s in draft.working.values()],
        "subscriptions": [
            {"subscriptionNumber": n, "status": s["status"]} for n, s in draft.working.items()
        ],
    }
    if options is not None and options.flag("runBilling") and first_period_amount(draft) > 0:
        _bill(draft, out, collect=bool(options.flag("collectPayment")))
    state.orders[number] = {
        "orderNumber": number,
        "orderDate": draft.order_date,
        "status": "Completed",
        "existingAccountNumber": acct["accountNumber"],
        "createdDate": draft.now,
        "subscriptions": [
            {"subscriptionNumber": n, "status": s["status"]} for n, s in draft.working.items()
        ],
        "orderActions": draft.actions,
    }
    state.refresh_metrics(acct)
    return out


def _bill(draft: Draft, out: dict[str, Any], *, collect: bool) -> None:
    state, acct = draft.state, draft.account
    invoice = make_invoice(
        state, acct, amount=first_period_amount(draft), date=draft.order_date, paid=False
    )
    state.add_invoice(invoice)
    out["invoiceNumbers"], out["invoiceIds"] = [invoice["invoiceNumber"]], [invoice["id"]]
    method = acct["defaultPaymentMethodId"]
    if collect and method:
        applied = [
            {
                "invoiceId": invoice["id"],
                "invoiceNumber": invoice["invoiceNumber"],
                "appliedPaymentAmount": invoice["amount"],
            }
        ]
        payment = make_payment(
            state,
            acct,
            amount=invoice["amount"],
            date=draft.order_date,
            method_id=method,
            applied=applied,
        )
        state.add_payment(payment)
        invoice["balance"] = 0.0
        out.update(
            paymentNumber=payment["number"],
            paymentId=payment["id"],
            paidAmount=payment["amount"],
            paymentStatus="Processed",
        )


def preview(draft: Draft) -> dict[str, Any]:
    items = [
        {
            "chargeName": c["name"],
            "serviceStartDate": c["effectiveStartDate"],
            "serviceEndDate": c["effectiveEndDate"],
            "quantity": c["quantity"],
            "amountWithoutTax": round(c["price"] * c["quantity"], 2),
            "taxAmount": 0.0,
        }
        for c in draft.new_charges
    ]
    amount = first_period_amount(draft)
    return {
        "success": True,
        "previewResult": {
            "invoices": [
                {
                    "amount": amount,
                    "amountWithoutTax": amount,
                    "taxAmount": 0.0,
                    "targetDate": draft.order_date,
                    "invoiceItems": items,
                }
            ]
        },
    }
