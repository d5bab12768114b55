"""``Idempotency-Key``: replay for 24 h, 409 while in flight, 422 on mismatch."""

from __future__ import annotations

import asyncio

from tests.fake_zuora.helpers import NEW_ACCOUNT, Api
from zproxy.clock import FakeClock
from zproxy.testing.fake_zuora.idempotency import IdempotencyStore, Outcome
from zproxy.testing.fake_zuora.samples import order_body


async def test_a_replay_returns_the_first_answer_and_applies_once(api: Api, plan_id: str) -> None:
    key = {"Idempotency-Key": "order-1"}
    first = await api.post("/v1/orders", order_body("A00000001", plan_id), headers=key)
    second = await api.post("/v1/orders", order_body("A00000001", plan_id), headers=key)
    assert first.data["success"] is True
    assert second.data == first.data
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Zuora-Request-Id"] != first.headers["Zuora-Request-Id"]
    ledger = await api.ledger()
    assert [(e["path"], e["idempotency_key"]) for e in ledger] == [("/v1/orders", "order-1")]
    assert (await api.stats())["idempotent_replays"] == 1


async def test_failures_are_stored_and_replayed_too(api: Api) -> None:
    key = {"Idempotency-Key": "bad-account"}
    first = await api.post("/v1/accounts", {"name": "x"}, headers=key)
    second = await api.post("/v1/accounts", {"name": "x"}, headers=key)
    assert first.status == second.status == 400
    assert second.data == first.data
    assert second.headers["Idempotent-Replayed"] == "true"


async def test_reuse_for_another_url_body_or_tenant_is_422(api: Api, plan_id: str) -> None:
    key = {"Idempotency-Key": "shared"}
    assert (await api.post("/v1/accounts", NEW_ACCOUNT, headers=key)).status == 200
    other_url = await api.post("/v1/orders", order_body("A00000001", plan_id), headers=key)
    other_body = await api.post("/v1/accounts", {**NEW_ACCOUNT, "name": "Other"}, headers=key)
    assert other_url.status == other_body.status == 422
    assert other_url.data["success"] is False
    api.fz.fake.auth.tenants["tenant-two-client-000000000000000000"] = 2
    form = {
        "client_id": "tenant-two-client-000000000000000000",
        "client_secret": "x",
        "grant_type": "client_credentials",
    }
    async with api.session.post(api.fz.url + "/oauth/token", data=form) as resp:
        token = (await resp.json())["access_token"]
    other_tenant = Api(api.session, api.fz, token)
    assert (await other_tenant.post("/v1/accounts", NEW_ACCOUNT, headers=key)).status == 422
    assert len(await api.ledger()) == 1


async def test_a_second_request_while_the_first_is_in_flight_gets_409(api: Api) -> None:
    await api.fault(mode="slow", scope="/v1/accounts", latency_ms=60_000)
    key = {"Idempotency-Key": "slow-one"}
    first = asyncio.create_task(api.post("/v1/accounts", NEW_ACCOUNT, headers=key))
    await api.wait_until(lambda s: s["idempotency_in_flight"] == 1, "the first request")
    second = await api.post("/v1/accounts", NEW_ACCOUNT, headers=key)
    assert second.status == 409
    assert second.data["success"] is False
    await api.fault(mode="up")  # wakes the slow request, which then completes
    done = await first
    assert done.status == 200
    third = await api.post("/v1/accounts", NEW_ACCOUNT, headers=key)
    assert third.data == done.data
    assert len(await api.ledger()) == 1


async def test_keys_expire_after_24_hours_on_the_injected_clock(api: Api, clock: FakeClock) -> None:
    key = {"Idempotency-Key": "daily"}
    first = await api.post("/v1/accounts", NEW_ACCOUNT, headers=key)
    clock.advance(24 * 3600 + 1)
    api.token = await api.fz.token(api.session)
    second = await api.post("/v1/accounts", NEW_ACCOUNT, headers=key)
    assert second.data["accountNumber"] != first.data["accountNumber"]
    assert len(await api.ledger()) == 2


async def test_keys_are_ignored_on_put_and_must_fit_255_chars(api: Api) -> None:
    key = {"Idempotency-Key": "put-key"}
    one = await api.put("/v1/accounts/A00000001", {"notes": "one"}, headers=key)
    two = await api.put("/v1/accounts/A00000001", {"notes": "two"}, headers=key)
    assert one.data == two.data == {"success": True}
    assert "Idempotent-Replayed" not in two.headers
    assert len(await api.ledger()) == 2
    too_long = await api.post("/v1/accounts", NEW_ACCOUNT, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status == 400


def _begin(store: IdempotencyStore, key: str, method: str = "POST") -> Outcome:
    return store.begin(key, tenant=1, method=method, url="/v1/x", body_hash="h", now=0.0)[0]


def test_store_outcomes_including_a_method_mismatch() -> None:
    store = IdempotencyStore()
    assert _begin(store, "k") is Outcome.NEW
    assert _begin(store, "k") is Outcome.IN_FLIGHT
    assert _begin(store, "k", "PATCH") is Outcome.MISMATCH
    store.complete("k", 200, b"{}", "application/json")
    assert _begin(store, "k") is Outcome.REPLAY
    store.abandon("k")
    assert _begin(store, "k") is Outcome.REPLAY, "a finished key is never abandoned"
    assert _begin(store, "j") is Outcome.NEW
    store.abandon("j")
    assert _begin(store, "j") is Outcome.NEW, "an abandoned in-flight key is free again"
