"""Invoices, payments and payment methods. Card data is masked before it is stored."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zproxy.testing.fake_zuora import render
from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora.context import READS, WRITES, Endpoint, Reply, ctx_of
from zproxy.testing.fake_zuora.fake import FAKE
from zproxy.testing.fake_zuora.handlers_accounts import card_from
from zproxy.testing.fake_zuora.records import iso_date, iso_time, make_payment
from zproxy.testing.fake_zuora.state import Rec, TenantState
from zproxy.testing.fake_zuora.validate import Fields

PAYMENT_CODE = 53300020


def _body_account(body: Any, state: TenantState, *names: str) -> str | None:
    if not isinstance(body, dict):
        return None
    for name in names:
        if isinstance(body.get(name), str):
            acct = state.account(body[name])
            return acct["accountNumber"] if acct else None
    return None


def account_of_payment(_request: web.Request, body: Any, state: TenantState) -> str | None:
    return _body_account(body, state, "accountId", "accountNumber")


def account_of_method(_request: web.Request, body: Any, state: TenantState) -> str | None:
    return _body_account(body, state, "accountKey", "accountId")


async def get_invoice(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = request.match_info["key"]
    invoice = ctx.tenant.invoice(key)
    return r.json_response(render.invoice(invoice)) if invoice else r.not_found(key, ctx.request_id)


async def get_payment(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = request.match_info["key"]
    payment = ctx.tenant.payment(key)
    return r.json_response(render.payment(payment)) if payment else r.not_found(key, ctx.request_id)


def _applications(
    state: TenantState, acct: Rec, body: Fields, amount: float
) -> list[tuple[Rec, float]]:
    out = []
    for item in body.objs("invoices"):
        invoice = state.invoice(item.req_str("invoiceId"))
        applied = item.number("amount", required=True, minimum=0.01)
        assert applied is not None
        if invoice is None or invoice["accountNumber"] != acct["accountNumber"]:
            raise Reply(r.v1_error(PAYMENT_CODE, "Invalid invoiceId.", body.request_id))
        if applied > invoice["balance"] + 1e-9:
            raise Reply(
                r.v1_error(PAYMENT_CODE, "The amount exceeds the invoice balance.", body.request_id)
            )
        out.append((invoice, applied))
    if sum(a for _, a in out) > amount + 1e-9:
        raise Reply(
            r.v1_error(PAYMENT_CODE, "Applied amounts exceed the payment amount.", body.request_id)
        )
    return out


async def create_payment(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    state, clock = ctx.tenant, request.app[FAKE].clock
    body = Fields(ctx.json_object(), ctx.request_id)
    key = body.text("accountId") or body.req_str("accountNumber")
    acct = state.account(key)
    if acct is None:
        return r.not_found(key, ctx.request_id)
    amount = body.number("amount", required=True, minimum=0.01)
    assert amount is not None
    method_id = body.text("paymentMethodId")
    if body.text("type") == "Electronic":
        method_id = method_id or acct["defaultPaymentMethodId"]
        if method_id not in state.related(acct["accountNumber"], "payment_methods"):
            return r.v1_error(PAYMENT_CODE, "Invalid paymentMethodId.", ctx.request_id)
    applications = _applications(state, acct, body, amount)
    date = body.date("effectiveDate") or iso_date(clock.time())
    applied = [
        {"invoiceId": inv["id"], "invoiceNumber": inv["invoiceNumber"], "appliedPaymentAmount": a}
        for inv, a in applications
    ]
    payment = make_payment(
        state, acct, amount=amount, date=date, method_id=method_id, applied=applied
    )
    for invoice, a in applications:
        invoice["balance"] = round(invoice["balance"] - a, 2)
    state.add_payment(payment)
    state.refresh_metrics(acct)
    acct["updatedDate"] = iso_time(clock.time())
    ctx.mark_applied(acct["accountNumber"])
    return r.json_response(render.payment(payment))


async def create_payment_method(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    state = ctx.tenant
    body = Fields(ctx.json_object(), ctx.request_id)
    if body.req_str("type") != "CreditCard":
        raise body.fail("type", "must be CreditCard in this fake.")
    key = body.req_str("accountKey")
    acct = state.account(key)
    if acct is None:
        return r.not_found(key, ctx.request_id)
    code = body.text("securityCode", max_len=4)
    if code is not None and not code.isdigit():
        raise body.fail("securityCode", "must be 3 or 4 digits.")
    method = card_from(state, acct, body, iso_time(request.app[FAKE].clock.time()))
    state.add_payment_method(method)
    if body.flag("makeDefault") or acct["defaultPaymentMethodId"] is None:
        for other in state.payment_methods_of(acct["accountNumber"]):
            other["isDefault"] = other is method
        acct["defaultPaymentMethodId"] = method["id"]
    ctx.mark_applied(acct["accountNumber"])
    return r.json_response({"success": True, "id": method["id"]})


ENDPOINTS = [
    Endpoint("GET", "/v1/invoices/{key}", get_invoice, READS),
    Endpoint("GET", "/v1/payments/{key}", get_payment, READS),
    Endpoint("POST", "/v1/payments", create_payment, WRITES, account_of_payment),
    Endpoint("POST", "/v1/payment-methods", create_payment_method, WRITES, account_of_method),
]
