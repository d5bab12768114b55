"""Changes to subscriptions shared by ``PUT /v1/subscriptions`` and ``POST /v1/orders``.

Every function validates before it mutates, so a failing change leaves the record untouched.
Errors are business errors (``OpError``): answered as HTTP 200 + ``success:false``.
"""

from __future__ import annotations

from typing import Any

from zproxy.testing.fake_zuora.records import make_rate_plan
from zproxy.testing.fake_zuora.state import Rec, TenantState

CANCEL_POLICIES = frozenset({"EndOfCurrentTerm", "EndOfLastInvoicePeriod", "SpecificDate"})
SUBSCRIPTION_CODE = 53100020
RATE_PLAN_CODE = 53200020


class OpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def mrr(sub: Rec) -> float:
    return sum(float(c["mrr"]) for p in sub["ratePlans"] for c in p["ratePlanCharges"])


def tcv(sub: Rec) -> float:
    return sum(float(c["tcv"]) for p in sub["ratePlans"] for c in p["ratePlanCharges"])


def require_active(sub: Rec) -> None:
    if sub["status"] != "Active":
        raise OpError(
            SUBSCRIPTION_CODE,
            f"The subscription {sub['subscriptionNumber']} is {sub['status'].lower()}.",
        )


def plan_for(state: TenantState, prp_id: Any) -> tuple[Rec, Rec]:
    """A product rate plan and its product, or an error naming the id."""
    prp = state.product_rate_plan(prp_id) if isinstance(prp_id, str) else None
    if prp is None:
        raise OpError(RATE_PLAN_CODE, f"Invalid productRatePlanId: {prp_id}.")
    return prp, state.plan_product[prp["id"]]


def build_plan(state: TenantState, prp_id: Any, quantity: Any, start: str, term: int) -> Rec:
    prp, product = plan_for(state, prp_id)
    qty = 1.0 if quantity is None else quantity
    if isinstance(qty, bool) or not isinstance(qty, int | float) or qty <= 0:
        raise OpError(RATE_PLAN_CODE, "quantity must be a positive number.")
    return make_rate_plan(state, prp, product, float(qty), start, term)


def find_plan(sub: Rec, rate_plan_id: Any) -> Rec:
    plan: Rec
    for plan in sub["ratePlans"]:
        if rate_plan_id in (plan["id"], plan["productRatePlanId"]):
            return plan
    raise OpError(RATE_PLAN_CODE, f"Invalid ratePlanId: {rate_plan_id}.")


def quantity_targets(plan: Rec, charge_key: Any, quantity: Any) -> list[Rec]:
    """The per-unit charges a quantity change applies to (validated, nothing changed yet)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity <= 0:
        raise OpError(RATE_PLAN_CODE, "quantity must be a positive number.")
    charges = [
        c
        for c in plan["ratePlanCharges"]
        if charge_key in (None, c["id"], c["number"], c["productRatePlanChargeId"])
        and c["model"] == "PerUnit"
    ]
    if not charges:
        raise OpError(RATE_PLAN_CODE, f"No per-unit charge matches {charge_key}.")
    return charges


def set_quantity(plan: Rec, charges: list[Rec], quantity: Any) -> None:
    for charge in charges:
        ratio = float(quantity) / charge["quantity"]
        charge["quantity"] = float(quantity)
        charge["mrr"] = round(charge["mrr"] * ratio, 2)
        charge["tcv"] = round(charge["tcv"] * ratio, 2)
    plan["lastChangeType"] = "Update"


def new_version(state: TenantState, sub: Rec, now: str) -> None:
    """An amendment: same number, next version, new id (old ids keep resolving)."""
    sub["version"] += 1
    sub["id"] = state.new_id()
    sub["updateTime"] = now
    state.reindex_subscription(sub)


def cancel(sub: Rec, policy: Any, effective: str | None, today: str, now: str) -> str:
    """Cancel; returns the cancellation date."""
    require_active(sub)
    if policy not in CANCEL_POLICIES:
        raise OpError(
            SUBSCRIPTION_CODE, f"cancellationPolicy must be one of {sorted(CANCEL_POLICIES)}."
        )
    if policy == "SpecificDate":
        if effective is None:
            raise OpError(
                SUBSCRIPTION_CODE, "cancellationEffectiveDate is required for SpecificDate."
            )
        date = effective
    elif policy == "EndOfCurrentTerm":
        date = sub["termEndDate"]
    else:
        date = today
    sub["status"] = "Cancelled"
    sub["cancelledDate"] = date
    sub["subscriptionEndDate"] = date
    sub["updateTime"] = now
    return str(date)
