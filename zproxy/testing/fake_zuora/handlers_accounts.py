"""Accounts: get, summary, create, update; and the account's payment methods."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zproxy.testing.fake_zuora import render
from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora.context import READS, WRITES, Endpoint, Reply, RequestCtx, ctx_of
from zproxy.testing.fake_zuora.fake import FAKE
from zproxy.testing.fake_zuora.records import (
    iso_time,
    make_account,
    make_contact,
    make_payment_method,
)
from zproxy.testing.fake_zuora.state import Rec, TenantState
from zproxy.testing.fake_zuora.validate import Fields

_CONTACT_FIELDS = (
    "firstName",
    "lastName",
    "workEmail",
    "personalEmail",
    "workPhone",
    "address1",
    "address2",
    "city",
    "state",
    "county",
    "country",
    "zipCode",
    "taxRegion",
)
_SIMPLE_UPDATES = ("name", "notes", "crmId", "paymentTerm", "batch", "salesRep", "tags")


def _account(ctx: RequestCtx, key: str) -> Rec:
    acct = ctx.tenant.account(key)
    if acct is None:
        raise Reply(r.not_found(key, ctx.request_id))
    return acct


def account_from_path(request: web.Request, _body: Any, state: TenantState) -> str | None:
    acct = state.account(request.match_info.get("key", ""))
    return acct["accountNumber"] if acct else None


async def get_account(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return r.json_response(render.account_detail(_account(ctx, request.match_info["key"])))


async def get_summary(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    acct = _account(ctx, request.match_info["key"])
    return r.json_response(render.account_summary(ctx.tenant, acct))


async def get_payment_methods(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    acct = _account(ctx, request.match_info["key"])
    return r.json_response(render.payment_methods(ctx.tenant, acct))


def _contact(state: TenantState, fields: Fields) -> Rec:
    fields.req_str("firstName", 100)
    fields.req_str("lastName", 100)
    for name in _CONTACT_FIELDS:
        fields.text(name, max_len=100)
    return make_contact(state, **{k: fields.data.get(k) for k in _CONTACT_FIELDS})


def card_from(state: TenantState, acct: Rec, card: Fields, now: str) -> Rec:
    """Validate a card object; the stored record keeps only the last four digits."""
    number = card.req_str("cardNumber", 19)
    if not number.isdigit() or not 12 <= len(number) <= 19:
        raise card.fail("cardNumber", "must be 12 to 19 digits.")
    month = card.integer("expirationMonth", 1, 12)
    year = card.integer("expirationYear", 2000, 2099)
    if month is None or year is None:
        raise card.fail("expirationMonth", "and expirationYear are required.", r.MISSING_FIELD)
    holder_info = card.obj("cardHolderInfo")
    holder = (holder_info.text("cardHolderName") if holder_info else None) or card.text(
        "cardHolderName"
    )
    return make_payment_method(
        state, acct, card_number=number, month=month, year=year, holder=holder or "", now=now
    )


def account_from_body(state: TenantState, body: Fields, now: str) -> tuple[Rec, Rec | None]:
    """Validate a new account (``POST /v1/accounts`` or an order's ``newAccount``); not stored."""
    name = body.req_str("name")
    currency = body.req_str("currency", 3)
    if body.has("subscription"):
        raise body.fail("subscription", "is not supported by the fake; use POST /v1/orders.")
    bill_to_fields = body.obj("billToContact", required=True)
    assert bill_to_fields is not None
    bill_to = _contact(state, bill_to_fields)
    sold_fields = body.obj("soldToContact")
    sold_to = _contact(state, sold_fields) if sold_fields else dict(bill_to, id=state.new_id())
    number = body.text("accountNumber", max_len=70)
    if number is not None and number in state.accounts:
        raise Reply(
            r.v1_error(
                r.INVALID_VALUE, f"The account number {number} is already in use.", body.request_id
            )
        )
    extra: dict[str, Any] = {"accountNumber": number, **body.custom()}
    extra["billCycleDay"] = body.integer("billCycleDay", 0, 31, default=1)
    extra["autoPay"] = body.flag("autoPay", default=False)
    for key in ("paymentTerm", "crmId", "notes", "batch", "salesRep", "tags", "paymentGateway"):
        if body.text(key, max_len=2000) is not None:
            extra[key] = body.data[key]
    card = body.obj("creditCard")
    acct = make_account(
        state,
        name=name,
        currency=currency.upper(),
        bill_to=bill_to,
        sold_to=sold_to,
        now=now,
        **extra,
    )
    method = card_from(state, acct, card, now) if card else None
    return acct, method


def store_account(state: TenantState, acct: Rec, method: Rec | None) -> None:
    state.add_account(acct)
    if method is not None:
        method["isDefault"] = True
        state.add_payment_method(method)
        acct["defaultPaymentMethodId"] = method["id"]


async def create_account(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    state, now = ctx.tenant, iso_time(request.app[FAKE].clock.time())
    acct, method = account_from_body(state, Fields(ctx.json_object(), ctx.request_id), now)
    store_account(state, acct, method)
    out: dict[str, Any] = {
        "success": True,
        "accountId": acct["id"],
        "accountNumber": acct["accountNumber"],
        "billToContactId": acct["billToContact"]["id"],
        "soldToContactId": acct["soldToContact"]["id"],
    }
    if method is not None:
        out["paymentMethodId"] = method["id"]
    ctx.mark_applied(acct["accountNumber"])
    return r.json_response(out)


async def update_account(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    acct = _account(ctx, request.match_info["key"])
    body = Fields(ctx.json_object(), ctx.request_id)
    updates: dict[str, Any] = body.custom()
    for key in _SIMPLE_UPDATES:
        if body.text(key, max_len=2000) is not None:
            updates[key] = body.data[key]
    if body.has("autoPay"):
        updates["autoPay"] = body.flag("autoPay")
    if body.has("billCycleDay"):
        updates["billCycleDay"] = body.integer("billCycleDay", 0, 31)
    method_id = body.text("defaultPaymentMethodId")
    if method_id is not None:
        if method_id not in ctx.tenant.related(acct["accountNumber"], "payment_methods"):
            return r.v1_error(r.INVALID_VALUE, "Invalid defaultPaymentMethodId.", ctx.request_id)
        updates["defaultPaymentMethodId"] = method_id
    contacts = {}
    for kind in ("billToContact", "soldToContact"):
        part = body.obj(kind)
        if part is not None:
            for name in _CONTACT_FIELDS:
                part.text(name, max_len=100)
            contacts[kind] = {k: v for k, v in part.data.items() if k in _CONTACT_FIELDS}
    for key, value in updates.items():
        target = acct if not key.endswith("__c") else acct["custom"]
        target[key] = value
    for kind, changes in contacts.items():
        acct[kind] = {**acct[kind], **changes}
    acct["updatedDate"] = iso_time(request.app[FAKE].clock.time())
    ctx.mark_applied(acct["accountNumber"])
    return r.json_response({"success": True})


ENDPOINTS = [
    Endpoint("GET", "/v1/accounts/{key}", get_account, READS),
    Endpoint("GET", "/v1/accounts/{key}/summary", get_summary, READS),
    Endpoint("GET", "/v1/accounts/{key}/payment-methods", get_payment_methods, READS),
    Endpoint("POST", "/v1/accounts", create_account, WRITES, lambda *_: None),
    Endpoint("PUT", "/v1/accounts/{key}", update_account, WRITES, account_from_path),
]
