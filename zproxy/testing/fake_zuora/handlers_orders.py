"""Orders: create (applied atomically), preview (no state change), get."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zproxy.testing.fake_zuora import orders
from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora import subscription_ops as ops
from zproxy.testing.fake_zuora.context import READS, WRITES, Endpoint, ctx_of
from zproxy.testing.fake_zuora.fake import FAKE
from zproxy.testing.fake_zuora.records import iso_time
from zproxy.testing.fake_zuora.state import TenantState
from zproxy.testing.fake_zuora.validate import Fields


def account_of_order(_request: web.Request, body: Any, state: TenantState) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("existingAccountNumber"), str):
        acct = state.account(body["existingAccountNumber"])
        return acct["accountNumber"] if acct else None
    return None


async def create_order(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    state = ctx.tenant
    body = Fields(ctx.json_object(), ctx.request_id)
    try:
        draft = orders.draft_order(state, body, iso_time(request.app[FAKE].clock.time()))
    except ops.OpError as exc:
        return r.v1_error(exc.code, exc.message, ctx.request_id)
    out = orders.commit(draft, state.next_number("order"), body.obj("processingOptions"))
    ctx.mark_applied(draft.account["accountNumber"])
    return r.json_response(out)


async def preview_order(request: web.Request) -> web.Response:
    """Runs the order on copies; ids and numbers drawn meanwhile are given back."""
    ctx = ctx_of(request)
    state = ctx.tenant
    body = Fields(ctx.json_object(), ctx.request_id)
    rng_state, counters = state.rng.getstate(), dict(state.counters)
    try:
        draft = orders.draft_order(state, body, iso_time(request.app[FAKE].clock.time()))
        return r.json_response(orders.preview(draft))
    except ops.OpError as exc:
        return r.v1_error(exc.code, exc.message, ctx.request_id)
    finally:
        state.rng.setstate(rng_state)
        state.counters.clear()
        state.counters.update(counters)


async def get_order(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    number = request.match_info["number"]
    order = ctx.tenant.orders.get(number)
    if order is None:
        return r.not_found(number, ctx.request_id)
    return r.json_response({"success": True, "order": order})


ENDPOINTS = [
    Endpoint("POST", "/v1/orders", create_order, WRITES, account_of_order),
    Endpoint("POST", "/v1/orders/preview", preview_order, READS),
    Endpoint("GET", "/v1/orders/{number}", get_order, READS),
]
