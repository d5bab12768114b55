"""ZOQL (``/v1/action/query`` + ``queryMore``), CRUD ``/v1/object`` and describe."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_zuora.helpers import Api


async def _query(api: Api, text: str, batch: int | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"queryString": text}
    if batch is not None:
        body["conf"] = {"batchSize": batch}
    reply = await api.post("/v1/action/query", body)
    return reply.status, reply.data


async def test_select_with_where_returns_pascal_case_and_omits_nulls(api: Api) -> None:
    status, body = await _query(
        api, "select Id, AccountNumber, Name, Notes from Account where AccountNumber = 'A00000002'"
    )
    assert status == 200
    assert body["size"] == 1
    assert body["done"] is True
    [record] = body["records"]
    assert record["AccountNumber"] == "A00000002"
    assert set(record) == {"Id", "AccountNumber", "Name"}, "Notes is NULL, so omitted"


async def test_and_conditions_and_field_names_ignore_case(api: Api) -> None:
    state = api.fz.fake.tenant(1)
    acct = state.accounts["A00000003"]
    status, body = await _query(
        api,
        f"select id, accountnumber from account where id = '{acct['id']}' and status = 'Active'",
    )
    assert status == 200
    assert body["records"] == [{"Id": acct["id"], "AccountNumber": "A00000003"}]
    _, none = await _query(
        api, f"select Id from Account where Id = '{acct['id']}' and Status != 'Active'"
    )
    assert none["records"] == []


async def test_subscriptions_by_account_id_match_the_rest_api(api: Api) -> None:
    state = api.fz.fake.tenant(1)
    number = next(n for n in state.accounts if len(state.subscriptions_of(n)) >= 1)
    acct_id = state.accounts[number]["id"]
    _, body = await _query(
        api, f"select Name, Status from Subscription where AccountId = '{acct_id}'"
    )
    rest = (await api.get(f"/v1/subscriptions/accounts/{number}")).data["subscriptions"]
    assert [r["Name"] for r in body["records"]] == [s["subscriptionNumber"] for s in rest]


async def test_batch_size_and_query_more_walk_every_record(api: Api) -> None:
    status, first = await _query(api, "select AccountNumber from Account", batch=5)
    assert status == 200
    assert first["size"] == 12
    assert first["done"] is False
    seen = [r["AccountNumber"] for r in first["records"]]
    locator = first["queryLocator"]
    while locator:
        more = (await api.post("/v1/action/queryMore", {"queryLocator": locator})).data
        seen += [r["AccountNumber"] for r in more["records"]]
        locator = more.get("queryLocator")
        assert more["done"] is (locator is None)
    assert seen == [f"A{n:08d}" for n in range(1, 13)]
    stale = await api.post("/v1/action/queryMore", {"queryLocator": first["queryLocator"]})
    assert stale.status == 400
    assert stale.data["FaultCode"] == "INVALID_QUERY_LOCATOR"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT Id FROM Account", "MALFORMED_QUERY"),
        ("select Id from Account where Name = 'x' or Name = 'y'", "MALFORMED_QUERY"),
        ("select Nope from Account", "INVALID_FIELD"),
        ("select Id from Widget", "INVALID_TYPE"),
        ("select from", "MALFORMED_QUERY"),
    ],
)
async def test_bad_queries_are_400_faults(api: Api, query: str, code: str) -> None:
    status, body = await _query(api, query)
    assert status == 400
    assert body["FaultCode"] == code
    assert body["FaultMessage"]


async def test_uppercase_inside_a_quoted_value_is_fine(api: Api) -> None:
    status, body = await _query(api, "select Id from Account where Name = 'SELECT FROM'")
    assert (status, body["records"]) == (200, [])


async def test_a_query_locator_is_bound_to_its_tenant(api: Api) -> None:
    api.fz.fake.auth.tenants["second-tenant-client-000000000000000"] = 2
    _, first = await _query(api, "select Id from Account", batch=1)
    other = Api(api.session, api.fz, "")
    form = {
        "client_id": "second-tenant-client-000000000000000",
        "client_secret": "x",
        "grant_type": "client_credentials",
    }
    async with api.session.post(api.fz.url + "/oauth/token", data=form) as resp:
        other.token = (await resp.json())["access_token"]
    stolen = await other.post("/v1/action/queryMore", {"queryLocator": first["queryLocator"]})
    assert stolen.status == 400


async def test_crud_get_and_update_account(api: Api) -> None:
    acct_id = api.fz.fake.tenant(1).accounts["A00000004"]["id"]
    got = await api.get(f"/v1/object/account/{acct_id}")
    assert got.status == 200
    assert got.data["AccountNumber"] == "A00000004"
    assert "Notes" not in got.data
    fields = await api.get(f"/v1/object/account/{acct_id}?fields=Name,AutoPay")
    assert set(fields.data) == {"Name", "AutoPay"}
    missing = await api.get("/v1/object/account/0123")
    assert (missing.status, missing.data) == (404, {"done": True, "records": [], "size": 0})
    updated = await api.put(f"/v1/object/account/{acct_id}", {"Name": "Crud Name", "Notes": "n"})
    assert updated.data == {"Success": True, "Id": acct_id}
    rest = (await api.get("/v1/accounts/A00000004")).data["basicInfo"]
    assert (rest["name"], rest["notes"]) == ("Crud Name", "n")
    bad = await api.put(f"/v1/object/account/{acct_id}", {"Balance": 5})
    assert bad.status == 400
    assert bad.data["Success"] is False
    assert bad.data["Errors"][0]["Code"] == "INVALID_FIELD"


async def test_describe_is_xml(api: Api) -> None:
    reply = await api.get("/v1/describe/Account")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/xml")
    assert "<name>AccountNumber</name>" in reply.text
    assert (await api.get("/v1/describe/Widget")).status == 404
