"""Older API families: Actions (ZOQL ``query``/``queryMore``), CRUD ``/v1/object``, describe."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora import zoql
from zproxy.testing.fake_zuora.context import READS, WRITES, ZOQL, Endpoint, ctx_of
from zproxy.testing.fake_zuora.fake import FAKE
from zproxy.testing.fake_zuora.records import iso_time
from zproxy.testing.fake_zuora.state import TenantState

#: CRUD account fields that can be written, PascalCase -> record key.
_ACCOUNT_WRITABLE = {
    "Name": "name",
    "Notes": "notes",
    "CrmId": "crmId",
    "AutoPay": "autoPay",
    "BillCycleDay": "billCycleDay",
    "PaymentTerm": "paymentTerm",
    "Batch": "batch",
    "SalesRepName": "salesRep",
}


async def query(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = ctx.json()
    text = body.get("queryString") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return r.action_fault("MALFORMED_QUERY", "queryString is required")
    conf = body.get("conf") or {}
    batch = conf.get("batchSize", zoql.MAX_BATCH) if isinstance(conf, dict) else None
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= zoql.MAX_BATCH:
        return r.action_fault("INVALID_VALUE", f"batchSize must be 1 to {zoql.MAX_BATCH}")
    try:
        rows = zoql.execute(ctx.tenant, zoql.parse(text))
    except zoql.ZoqlError as exc:
        return r.action_fault(exc.code, exc.message)
    return r.json_response(request.app[FAKE].locators.page(ctx.tenant.tenant, rows, batch))


async def query_more(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = ctx.json()
    locator = body.get("queryLocator") if isinstance(body, dict) else None
    page = (
        request.app[FAKE].locators.more(ctx.tenant.tenant, locator)
        if isinstance(locator, str)
        else None
    )
    if page is None:
        return r.action_fault("INVALID_QUERY_LOCATOR", "invalid queryLocator")
    return r.json_response(page)


async def describe(request: web.Request) -> web.Response:
    xml = zoql.describe_xml(request.match_info["object"])
    if xml is None:
        return r.crud_error("INVALID_TYPE", "Unknown object type.", status=404)
    return web.Response(text=xml, content_type="text/xml")


def _crud_record(state: TenantState, obj: str, record_id: str) -> tuple[str, dict[str, Any]] | None:
    name = zoql.object_name(obj)
    if name is None:
        return None
    rows = zoql.execute(
        state, zoql.Query(name, tuple(zoql.OBJECTS[name]), (("Id", "=", record_id),))
    )
    return (name, rows[0]) if rows else None


async def get_object(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    found = _crud_record(ctx.tenant, request.match_info["type"], request.match_info["id"])
    if found is None:
        return r.crud_not_found()
    _, row = found
    wanted = request.query.get("fields")
    if wanted:
        keep = {f.strip().lower() for f in wanted.split(",")}
        row = {k: v for k, v in row.items() if k.lower() in keep}
    return r.json_response(row)


def account_of_object(request: web.Request, _body: Any, state: TenantState) -> str | None:
    acct = state.account(request.match_info.get("id", ""))
    return acct["accountNumber"] if acct else None


async def update_account_object(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    acct = ctx.tenant.account(request.match_info["id"])
    if acct is None or acct["id"] != request.match_info["id"]:
        return r.crud_not_found()
    body = ctx.json()
    if not isinstance(body, dict):
        return r.crud_error("MALFORMED_QUERY", "The request body must be a JSON object.")
    for key, value in body.items():
        if key not in _ACCOUNT_WRITABLE and not key.endswith("__c"):
            return r.crud_error("INVALID_FIELD", f"invalid field for update: {key}")
        if value is not None and not isinstance(value, str | int | float | bool):
            return r.crud_error("INVALID_VALUE", f"invalid value for {key}")
    for key, value in body.items():
        if key.endswith("__c"):
            acct["custom"][key] = value
        else:
            acct[_ACCOUNT_WRITABLE[key]] = value
    acct["updatedDate"] = iso_time(request.app[FAKE].clock.time())
    ctx.mark_applied(acct["accountNumber"])
    return r.json_response({"Success": True, "Id": acct["id"]})


ENDPOINTS = [
    Endpoint("POST", "/v1/action/query", query, ZOQL),
    Endpoint("POST", "/v1/action/queryMore", query_more, ZOQL),
    Endpoint("GET", "/v1/describe/{object}", describe, READS),
    Endpoint("GET", "/v1/object/{type}/{id}", get_object, READS),
    Endpoint("PUT", "/v1/object/account/{id}", update_account_object, WRITES, account_of_object),
]
