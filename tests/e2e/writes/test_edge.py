"""The proxy port during an outage: payments refused at once, idempotent enqueue, and write
status visible only to the identity that queued the write."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import (
    assert_accepted,
    assert_refused,
    drained,
    order_body,
    post_keys,
    put_account,
)
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import admin, bearer, oauth_token, request, set_mode
from zproxy.testing.proxy_process import ZproxyProcess

OTHER_CLIENT = "11111111-2222-3333-4444-555555555555"


async def test_payment_during_outage_is_refused_without_an_upstream_call(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    # The breaker stays open for the whole test once Zuora's 503s opened it.
    breakers = {"breakers": {"defaults": {"reset_timeout": 60, "fail_max": 3}}}
    async with zproxy_stack(tmp_path, redis_url, overrides=breakers) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        fake.set_fault(fz, mode="down")
        # Zuora's 503s open the write breaker (fail_max 3); these PUTs are queued meanwhile.
        for account in ("A00000001", "A00000003", "A00000004"):
            assert_accepted(await put_account(http, proc, token, account, 0))
        await eventually(lambda: _writes_breaker_open(http, proc))
        payment = {"accountId": "A00000001", "amount": 10, "type": "External"}
        reply = await request(
            http,
            "POST",
            proc.url + "/v1/payments",
            json=payment,
            headers={**bearer(token), "Prefer": "respond-async"},
        )
        # POST /v1/payments matches no route (see report: `{rest*}` needs >= 1 character), so
        # the refusal comes from the open breaker of the pass-through path: 503, not queued.
        assert reply.status == 503, reply.body
        assert reply.json().get("queued") is not True
        assert "Retry-After" in reply.headers
        assert reply.json()["reasons"][0]["code"] == "ZPROXY_UPSTREAM_UNAVAILABLE"
        reply = await request(
            http,
            "POST",
            proc.url + "/v1/payments/P1/refunds",
            json={"totalAmount": 1},
            headers={**bearer(token), "Prefer": "respond-async"},
        )
        assert_refused(reply)
        # Card data on a queueable route is never queued (nor stored) either.
        card = {"creditCardNumber": "4111 1111 1111 1111", "notes": "x"}
        reply = await request(
            http, "PUT", proc.url + "/v1/accounts/A00000002", json=card, headers=bearer(token)
        )
        assert_refused(reply)
        assert not [p for p in fz.fake.stats.paths if p.startswith("/v1/payments")]
        assert "/v1/accounts/A00000002" not in fz.fake.stats.paths


async def _writes_breaker_open(http: aiohttp.ClientSession, proc: ZproxyProcess) -> bool:
    reply = await admin(http, proc, "GET", "/admin/breaker")
    return bool(reply.json()["groups"]["writes"]["state"] == "open")


async def test_same_key_same_body_is_one_write_and_another_body_is_422(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        plan = fake.rate_plan(fz)
        await set_mode(http, proc, "force_open")
        headers = {**bearer(token), "Prefer": "respond-async", "Idempotency-Key": "client-key-1"}
        url = proc.url + "/v1/orders"
        first = await request(
            http, "POST", url, json=order_body("A00000001", plan), headers=headers
        )
        again = await request(
            http, "POST", url, json=order_body("A00000001", plan), headers=headers
        )
        assert assert_accepted(first) == assert_accepted(again)
        assert first.json()["idempotencyKey"] == "client-key-1"
        other = await request(
            http, "POST", url, json=order_body("A00000002", plan), headers=headers
        )
        assert other.status == 422, other.body
        assert other.json()["queued"] is False
        assert other.json()["reasons"][0]["code"] == "ZPROXY_IDEMPOTENCY_KEY_MISMATCH"

        await set_mode(http, proc, "auto")
        await eventually(lambda: drained(http, proc))
        assert post_keys(fz) == ["client-key-1"]
        # A client retry after the replay goes live; Zuora answers it from its key store.
        late = await request(http, "POST", url, json=order_body("A00000001", plan), headers=headers)
        assert late.status == 200
        assert late.headers.get("Idempotent-Replayed") == "true"
        assert post_keys(fz) == ["client-key-1"]


async def test_write_status_is_visible_to_its_identity_only(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        first = await oauth_token(http, proc.url, fz.client_id, fz.client_secret)
        rotated = await oauth_token(http, proc.url, fz.client_id, fz.client_secret)
        stranger = await oauth_token(http, proc.url, OTHER_CLIENT, "another-secret")
        unknown = await fz.token(http)  # same client, but zproxy never saw it issued
        assert len({first, rotated, stranger, unknown}) == 4
        await set_mode(http, proc, "force_open", group="writes")
        reply = await put_account(http, proc, first, "A00000001", 1)
        location = reply.headers["Location"]
        assert_accepted(reply)

        async def status(token: str | None) -> int:
            headers = bearer(token) if token else {}
            return (await request(http, "GET", proc.url + location, headers=headers)).status

        assert await status(first) == 200
        assert await status(rotated) == 200
        assert await status(stranger) == 404
        assert await status(unknown) == 404
        assert await status(None) == 404
        missing = location[:-4] + "0000"
        assert (await request(http, "GET", proc.url + missing, headers=bearer(first))).status == 404
        seen = await request(http, "GET", proc.url + location, headers=bearer(rotated))
        assert seen.json()["state"] == "queued"
        assert set(seen.json()) == {
            "writeId",
            "state",
            "attempts",
            "acceptedAt",
            "appliedAt",
            "upstreamStatus",
            "upstreamBody",
        }
