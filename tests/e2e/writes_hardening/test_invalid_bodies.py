"""A write is queued only if Zuora could accept it (issue 12 finding 5): during an outage a
body that is not a JSON object on a queueable route is a Zuora-shaped 400 at once, nothing is
queued and nothing reaches Zuora after recovery. Real zproxy, fake Zuora, Redis."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import QUICK_BREAKERS, assert_accepted, drained, put_account
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import Reply, admin, bearer, request, set_mode
from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.proxy_process import ZproxyProcess

NOT_OBJECTS = {
    "not_json": b"notes=hello&seq__c=1",
    "empty": b"",
    "truncated": b'{"notes": "hel',
    "array": b"[]",
    "string": b'"hello"',
    "number": b"42",
    "invalid_utf8": b'{"notes": "\xff\xfe"}',
}


def assert_invalid_body(reply: Reply, name: str) -> None:
    assert reply.status == 400, (name, reply.status, reply.body)
    body = reply.json()
    assert body["success"] is False
    assert body["queued"] is False
    assert body["reasons"][0]["code"] == "ZPROXY_INVALID_BODY"
    assert "JSON object" in body["reasons"][0]["message"]
    assert body["requestId"] == reply.headers["X-Request-Id"]
    assert "Traceback" not in reply.text


async def send_all(
    http: aiohttp.ClientSession, proc: ZproxyProcess, token: str, account: str
) -> None:
    """Every kind of body to both queueable routes: PUT an account, POST an order (async)."""
    json_type = {**bearer(token), "Content-Type": "application/json"}
    for name, body in NOT_OBJECTS.items():
        put = await request(
            http, "PUT", f"{proc.url}/v1/accounts/{account}", data=body, headers=json_type
        )
        assert_invalid_body(put, name)
        headers = {**json_type, "Prefer": "respond-async"}
        post = await request(http, "POST", proc.url + "/v1/orders", data=body, headers=headers)
        assert_invalid_body(post, name)


async def queued(http: aiohttp.ClientSession, proc: ZproxyProcess) -> list[dict[str, object]]:
    reply = await admin(http, proc, "GET", "/admin/writes?state=queued")
    assert reply.status == 200, reply.body
    writes: list[dict[str, object]] = reply.json()["writes"]
    return writes


def ledger_paths(fz: RunningFakeZuora) -> list[str]:
    return [e.path for e in fz.fake.ledger.entries]


async def test_bodies_zuora_cannot_accept_are_refused_not_queued_during_an_outage(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url, overrides=QUICK_BREAKERS) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        account = fake.accounts(fz)[0]
        # Zuora answers 503: the first writes are forwarded and come back "not processed",
        # then the open breaker decides without sending.
        fake.set_fault(fz, mode="down")
        await send_all(http, proc, token, account)
        # The breaker held open by the operator: decided before any forward.
        await set_mode(http, proc, "force_open")
        await send_all(http, proc, token, account)
        assert await queued(http, proc) == []

        # A valid write in the same outage is queued: the witness that replay happens.
        witness = assert_accepted(await put_account(http, proc, token, account, 1))
        assert [w["writeId"] for w in await queued(http, proc)] == [witness]
        await set_mode(http, proc, "auto")
        fake.set_fault(fz, mode="up")
        await eventually(lambda: drained(http, proc), timeout=30)
        assert ledger_paths(fz) == [f"/v1/accounts/{account}?seq=1"]
        assert await queued(http, proc) == []


async def test_while_zuora_is_up_such_bodies_get_zuoras_own_answer(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        account = fake.accounts(fz)[0]
        headers = {**bearer(token), "Content-Type": "application/json"}
        for name, body in NOT_OBJECTS.items():
            reply = await request(
                http, "PUT", f"{proc.url}/v1/accounts/{account}", data=body, headers=headers
            )
            assert reply.status == 400, (name, reply.status, reply.body)
            assert reply.json()["reasons"][0]["code"] != "ZPROXY_INVALID_BODY", name
        assert fake.path_count(fz, f"/v1/accounts/{account}") == len(NOT_OBJECTS)
        assert ledger_paths(fz) == []
