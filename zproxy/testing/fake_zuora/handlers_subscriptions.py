"""Subscriptions: get, list by account (paged), update, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zproxy.testing.fake_zuora import render
from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora import subscription_ops as ops
from zproxy.testing.fake_zuora.context import READS, WRITES, Endpoint, Reply, RequestCtx, ctx_of
from zproxy.testing.fake_zuora.fake import FAKE
from zproxy.testing.fake_zuora.records import iso_date, iso_time
from zproxy.testing.fake_zuora.state import Rec, TenantState
from zproxy.testing.fake_zuora.validate import Fields

MAX_PAGE_SIZE = 40


def _subscription(ctx: RequestCtx, key: str) -> Rec:
    sub = ctx.tenant.subscription(key)
    if sub is None:
        raise Reply(r.not_found(key, ctx.request_id))
    return sub


def account_of_subscription(request: web.Request, _body: Any, state: TenantState) -> str | None:
    sub = state.subscription(request.match_info.get("key", ""))
    return sub["accountNumber"] if sub else None


def paging(request: web.Request, ctx: RequestCtx, default_size: int = 20) -> tuple[int, int]:
    """``page`` (1-based) and ``pageSize`` (at most 40) from the query string."""
    try:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("pageSize", str(default_size)))
    except ValueError:
        raise Reply(r.bad_request("page and pageSize must be integers.", ctx.request_id)) from None
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise Reply(
            r.bad_request(f"page must be >= 1 and pageSize 1 to {MAX_PAGE_SIZE}.", ctx.request_id)
        )
    return page, size


def next_page(request: web.Request, page: int, size: int, total: int) -> str | None:
    if page * size >= total:
        return None
    return f"{request.path}?page={page + 1}&pageSize={size}"


async def get_subscription(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return r.json_response(
        render.subscription_detail(_subscription(ctx, request.match_info["key"]))
    )


async def list_by_account(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = request.match_info["key"]
    acct = ctx.tenant.account(key)
    if acct is None:
        return r.not_found(key, ctx.request_id)
    page, size = paging(request, ctx)
    subs = ctx.tenant.subscriptions_of(acct["accountNumber"])
    body: dict[str, Any] = {
        "success": True,
        "subscriptions": [render.subscription(s) for s in subs[(page - 1) * size : page * size]],
    }
    more = next_page(request, page, size, len(subs))
    if more:
        body["nextPage"] = more
    return r.json_response(body)


def _amend(state: TenantState, sub: Rec, body: Fields, today: str) -> bool:
    """Apply add/update/remove; True when rate plans changed. Validates all before mutating."""
    term = int(sub["currentTerm"])
    added = [
        ops.build_plan(
            state,
            a.data.get("productRatePlanId"),
            a.data.get("quantity"),
            a.date("contractEffectiveDate", today) or today,
            term,
        )
        for a in body.objs("add")
    ]
    removed = [ops.find_plan(sub, x.data.get("ratePlanId")) for x in body.objs("remove")]
    updates = []
    for u in body.objs("update"):
        plan = ops.find_plan(sub, u.data.get("ratePlanId"))
        for detail in u.objs("chargeUpdateDetails", required=True):
            qty = detail.data.get("quantity")
            charges = ops.quantity_targets(plan, detail.data.get("ratePlanChargeId"), qty)
            updates.append((plan, charges, qty))
    for plan, charges, qty in updates:
        ops.set_quantity(plan, charges, qty)
    for plan in removed:
        sub["ratePlans"].remove(plan)
    sub["ratePlans"].extend(added)
    return bool(added or removed or updates)


async def update_subscription(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    sub = _subscription(ctx, request.match_info["key"])
    body = Fields(ctx.json_object(), ctx.request_id)
    clock = request.app[FAKE].clock
    auto_renew, notes = body.flag("autoRenew"), body.text("notes", max_len=500)
    renewal = body.integer("renewalTerm", 1, 120)
    before_mrr, before_tcv = ops.mrr(sub), ops.tcv(sub)
    try:
        ops.require_active(sub)
        changed = _amend(ctx.tenant, sub, body, iso_date(clock.time()))
    except ops.OpError as exc:
        return r.v1_error(exc.code, exc.message, ctx.request_id)
    if changed:
        ops.new_version(ctx.tenant, sub, iso_time(clock.time()))
    for key, value in (("autoRenew", auto_renew), ("notes", notes), ("renewalTerm", renewal)):
        if value is not None:
            sub[key] = value
    sub["custom"].update(body.custom())
    sub["updateTime"] = iso_time(clock.time())
    ctx.tenant.refresh_metrics(ctx.tenant.accounts[sub["accountNumber"]])
    ctx.mark_applied(sub["accountNumber"])
    return r.json_response(
        {
            "success": True,
            "subscriptionId": sub["id"],
            "totalDeltaMrr": round(ops.mrr(sub) - before_mrr, 2),
            "totalDeltaTcv": round(ops.tcv(sub) - before_tcv, 2),
        }
    )


async def cancel_subscription(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    sub = _subscription(ctx, request.match_info["key"])
    body = Fields(ctx.json_object(), ctx.request_id)
    policy = body.req_str("cancellationPolicy")
    effective = body.date("cancellationEffectiveDate")
    clock = request.app[FAKE].clock
    before_mrr, before_tcv = ops.mrr(sub), ops.tcv(sub)
    try:
        date = ops.cancel(sub, policy, effective, iso_date(clock.time()), iso_time(clock.time()))
    except ops.OpError as exc:
        return r.v1_error(exc.code, exc.message, ctx.request_id)
    ctx.tenant.refresh_metrics(ctx.tenant.accounts[sub["accountNumber"]])
    ctx.mark_applied(sub["accountNumber"])
    return r.json_response(
        {
            "success": True,
            "subscriptionId": sub["id"],
            "cancelledDate": date,
            "totalDeltaMrr": round(-before_mrr, 2),
            "totalDeltaTcv": round(-before_tcv, 2),
        }
    )


ENDPOINTS = [
    Endpoint("GET", "/v1/subscriptions/{key}", get_subscription, READS),
    Endpoint("GET", "/v1/subscriptions/accounts/{key}", list_by_account, READS),
    Endpoint(
        "PUT", "/v1/subscriptions/{key}", update_subscription, WRITES, account_of_subscription
    ),
    Endpoint(
        "PUT",
        "/v1/subscriptions/{key}/cancel",
        cancel_subscription,
        WRITES,
        account_of_subscription,
    ),
]
