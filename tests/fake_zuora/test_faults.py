"""Every fault mode over real HTTP, scopes, timelines on a FakeClock, reset and stats."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.fake_zuora.helpers import NEW_ACCOUNT, Api
from tests.support.http import Reply
from zproxy.clock import FakeClock

QUERY = {"queryString": "select Id from Account where AccountNumber = 'A00000001'"}


async def _dropped(api: Api, path: str = "/v1/accounts", json: object = NEW_ACCOUNT) -> None:
    with pytest.raises(aiohttp.ClientError):
        await api.post(path, json)


async def test_down_answers_503_everywhere_but_the_control_api(api: Api) -> None:
    await api.fault(mode="down")
    reply = await api.get("/v1/accounts/A00000001", headers={"Zuora-Track-Id": "t"})
    assert reply.status == 503
    assert reply.data["success"] is False
    assert reply.headers["Zuora-Track-Id"] == "t"
    assert "Zuora-Request-Id" in reply.headers
    assert (await api.post("/v1/accounts", NEW_ACCOUNT)).status == 503
    stats = await api.stats()
    assert stats["faults"]["down"] == 2
    assert stats["by_status"] == {"200": 1, "503": 2}, "the token, then two faults"
    await api.fault(mode="up")
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    assert await api.ledger() == []


async def test_down_with_another_status(api: Api) -> None:
    await api.fault(mode="down", status=502)
    assert (await api.get("/v1/accounts/A00000001")).status == 502


async def test_reset_drops_the_connection_and_applies_nothing(api: Api) -> None:
    await api.fault(mode="reset")
    await _dropped(api)
    assert await api.ledger() == []
    assert (await api.stats())["by_status"] == {"200": 1, "dropped": 1}


async def test_timeout_hangs_until_the_fault_is_lifted_then_drops(api: Api) -> None:
    await api.fault(mode="timeout", scope="writes")
    hung = asyncio.create_task(api.post("/v1/accounts", NEW_ACCOUNT))
    await api.wait_until(lambda s: s["in_flight"] == 1, "the hung request")
    assert (await api.get("/v1/accounts/A00000001")).status == 200, "reads are out of scope"
    await api.fault(mode="up")
    with pytest.raises(aiohttp.ClientError):
        await hung
    assert await api.ledger() == []


async def test_timeout_ends_when_the_client_gives_up(api: Api) -> None:
    await api.fault(mode="timeout")
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await api.post(
            "/v1/accounts", NEW_ACCOUNT, headers={"Idempotency-Key": "k"}, timeout=timeout
        )
    await api.wait_until(lambda s: s["in_flight"] == 0, "the handler to be cancelled")
    stats = await api.stats()
    assert stats["idempotency_in_flight"] == 0
    assert stats["by_status"] == {"200": 1, "cancelled": 1}


async def test_slow_adds_latency_and_still_answers(api: Api) -> None:
    await api.fault(mode="slow", latency_ms=20, jitter_ms=5)
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    assert (await api.stats())["faults"] == {"slow": 1}


async def _statuses(api: Api, n: int) -> list[int]:
    return [(await api.get("/v1/accounts/A00000001")).status for _ in range(n)]


async def test_flaky_fails_a_seeded_fraction(api: Api) -> None:
    await api.fault(mode="flaky", rate=0.5)
    first = await _statuses(api, 30)
    assert set(first) == {200, 503}
    await api.control("POST", "reset")
    await api.fault(mode="flaky", rate=0.5)
    assert await _statuses(api, 30) == first, "same seed, same failures"


async def test_ratelimit_answers_429_with_retry_after(api: Api) -> None:
    await api.fault(mode="ratelimit", retry_after=7)
    reply = await api.get("/v1/accounts/A00000001")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "7"
    assert reply.headers["RateLimit-Remaining"] == "0"
    assert reply.data["success"] is False


async def test_writes_down_keeps_reads_and_zoql_working(api: Api) -> None:
    await api.fault(mode="writes_down")
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    assert (await api.post("/v1/action/query", QUERY)).status == 200
    assert (await api.post("/v1/orders/preview", {})).status == 400, "a POST read, answered"
    assert (await api.post("/v1/accounts", NEW_ACCOUNT)).status == 503
    assert (await api.put("/v1/accounts/A00000001", {"notes": "x"})).status == 503
    assert await api.ledger() == []


async def test_auth_down_fails_only_the_token_endpoint(api: Api) -> None:
    await api.fault(mode="auth_down")
    form = {"client_id": api.fz.client_id, "client_secret": "s", "grant_type": "client_credentials"}
    async with api.session.post(api.fz.url + "/oauth/token", data=form) as resp:
        assert resp.status == 503
    assert (await api.get("/v1/accounts/A00000001")).status == 200


@pytest.mark.parametrize(
    ("scope", "faulted", "spared"),
    [
        ("reads", ("GET", "/v1/accounts/A00000001"), ("POST", "/v1/accounts")),
        ("writes", ("POST", "/v1/accounts"), ("GET", "/v1/accounts/A00000001")),
        ("zoql", ("POST", "/v1/action/query"), ("GET", "/v1/accounts/A00000001")),
        ("/v1/catalog", ("GET", "/v1/catalog/products"), ("GET", "/v1/accounts/A00000001")),
        ("auth", ("POST", "/oauth/token"), ("GET", "/v1/catalog/products")),
    ],
)
async def test_scopes(
    api: Api, scope: str, faulted: tuple[str, str], spared: tuple[str, str]
) -> None:
    await api.fault(mode="down", scope=scope)
    bodies = {"/v1/accounts": NEW_ACCOUNT, "/v1/action/query": QUERY}

    async def call(method: str, path: str) -> Reply:
        return await api.call(method, path, json=bodies.get(path))

    assert (await call(*faulted)).status == 503
    assert (await call(*spared)).status in {200, 401}


async def test_up_on_a_scope_shadows_older_rules_and_rules_replace_by_scope(api: Api) -> None:
    await api.fault(mode="down")
    await api.fault(mode="up", scope="reads")
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    assert (await api.post("/v1/accounts", NEW_ACCOUNT)).status == 503
    await api.fault(mode="ratelimit", scope="reads")
    assert (await api.get("/v1/accounts/A00000001")).status == 429, "replaced the up rule"
    described = await api.control("GET", "fault")
    assert [(r["mode"], r["scope"]) for r in described["rules"]] == [
        ("down", "all"),
        ("ratelimit", "reads"),
    ]


async def test_lock_competition_fails_writes_with_58730050(api: Api) -> None:
    await api.fault(mode="lock_competition")
    reply = await api.put("/v1/accounts/A00000001", {"notes": "x"})
    assert reply.status == 200
    assert reply.data["success"] is False
    assert reply.data["reasons"] == [
        {
            "code": 58730050,
            "message": "Operation failed due to a lock competition, please retry later.",
        }
    ]
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    await api.fault(mode="lock_competition", status=409)
    assert (await api.put("/v1/accounts/A00000001", {"notes": "x"})).status == 409
    assert await api.ledger() == []


async def test_lock_competition_only_between_concurrent_writes_to_one_account(api: Api) -> None:
    await api.fault(mode="lock_competition", concurrent_only=True)
    assert (await api.put("/v1/accounts/A00000001", {"notes": "alone"})).data["success"] is True
    await api.fault(mode="slow", scope="/v1/accounts/A00000001", latency_ms=60_000)
    first = asyncio.create_task(api.put("/v1/accounts/A00000001", {"notes": "first"}))
    await api.wait_until(lambda s: s["in_flight"] == 1, "the first write")
    second = await api.put("/v1/accounts/A00000001", {"notes": "second"})
    assert second.data["reasons"][0]["code"] == 58730050
    other = await api.put("/v1/accounts/A00000002", {"notes": "other account"})
    assert other.data["success"] is True
    await api.fault(mode="up", scope="/v1/accounts/A00000001")
    assert (await first).data["success"] is True
    ledger = await api.ledger()
    assert [e["account"] for e in ledger] == ["A00000001", "A00000002", "A00000001"]


async def test_reset_after_apply_applies_then_drops_and_a_retry_replays(api: Api) -> None:
    await api.fault(mode="reset_after_apply", scope="writes")
    key = {"Idempotency-Key": "ambiguous"}
    with pytest.raises(aiohttp.ClientError):
        await api.post("/v1/accounts", NEW_ACCOUNT, headers=key)
    [entry] = await api.ledger()
    assert entry["idempotency_key"] == "ambiguous"
    retry = await api.post("/v1/accounts", NEW_ACCOUNT, headers=key)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.data["accountNumber"] == entry["account"]
    assert len(await api.ledger()) == 1


async def test_timeline_phases_follow_the_injected_clock(api: Api, clock: FakeClock) -> None:
    await api.control(
        "POST",
        "timeline",
        {
            "phases": [
                {"mode": "down", "duration": 2},
                {"mode": "ratelimit", "duration": 3, "retry_after": 3},
            ]
        },
    )
    assert (await api.get("/v1/accounts/A00000001")).status == 503
    clock.advance(2.5)
    assert (await api.get("/v1/accounts/A00000001")).status == 429
    assert (await api.control("GET", "fault"))["timeline"]["phase"] == 1
    clock.advance(3)
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    assert (await api.control("GET", "fault"))["timeline"]["finished"] is True


async def test_a_timeline_phase_with_several_faults_and_an_open_end(
    api: Api, clock: FakeClock
) -> None:
    phases = [
        {"faults": [{"mode": "writes_down"}, {"mode": "slow", "latency_ms": 1}], "duration": 1},
        {"mode": "down", "scope": "zoql"},
    ]
    await api.control("POST", "timeline", {"phases": phases})
    assert (await api.post("/v1/accounts", NEW_ACCOUNT)).status == 503
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    clock.advance(1000)
    assert (await api.post("/v1/action/query", QUERY)).status == 503
    assert (await api.post("/v1/accounts", NEW_ACCOUNT)).status == 200


async def test_a_timeout_phase_releases_hung_requests_when_it_ends(
    api: Api, clock: FakeClock
) -> None:
    await api.control(
        "POST", "timeline", {"phases": [{"mode": "timeout", "duration": 10}, {"mode": "up"}]}
    )
    hung = asyncio.create_task(api.post("/v1/accounts", NEW_ACCOUNT))
    await api.wait_until(lambda s: s["in_flight"] == 1, "the hung request")
    clock.advance(11)
    with pytest.raises(aiohttp.ClientError):
        await hung
    assert (await api.post("/v1/accounts", NEW_ACCOUNT)).status == 200


async def test_concurrency_cap_answers_429_request_exceeded_limit(api: Api) -> None:
    await api.control("POST", "limits", {"default": 2, "zoql": 1})
    await api.fault(mode="timeout", scope="/v1/accounts")
    hung = [asyncio.create_task(api.get(f"/v1/accounts/A0000000{i}")) for i in (1, 2)]
    await api.wait_until(lambda s: s["in_flight"] == 2, "two hung requests")
    capped = await api.get("/v1/catalog/products")
    assert capped.status == 429
    assert capped.data == {
        "code": "REQUEST_EXCEEDED_LIMIT",
        "message": "Your total number of concurrent requests have exceeded the limit allowed "
        "by the system. Please resubmit your request later.",
    }
    assert capped.headers["Concurrency-Limit-Remaining"] == "0"
    assert capped.headers["Concurrency-Limit-Limit"] == "2"
    assert (await api.post("/v1/action/query", QUERY)).status == 200, "ZOQL has its own pool"
    assert (await api.stats())["max_in_flight"] == 3
    await api.fault(mode="up")
    await asyncio.gather(*hung, return_exceptions=True)
    assert (await api.get("/v1/catalog/products")).status == 200


async def test_reset_restores_seed_state_and_clears_everything(api: Api) -> None:
    created = await api.post("/v1/accounts", NEW_ACCOUNT, headers={"Idempotency-Key": "k"})
    number = created.data["accountNumber"]
    await api.fault(mode="down", scope="writes")
    assert (await api.control("POST", "reset")) == {"reset": True}
    assert (await api.get(f"/v1/accounts/{number}")).data["success"] is False, "back to the seed"
    assert (await api.control("GET", "fault"))["rules"] == []
    assert await api.ledger() == []
    stats = await api.stats()
    assert (stats["total"], stats["faults"], stats["idempotent_replays"]) == (1, {}, 0)
    again = await api.post("/v1/accounts", NEW_ACCOUNT, headers={"Idempotency-Key": "k"})
    assert again.data["accountNumber"] == number, "same seed, same numbers, key forgotten"
    assert "Idempotent-Replayed" not in again.headers


async def test_stats_count_by_method_group_status_and_path(api: Api) -> None:
    await api.get("/v1/accounts/A00000001")
    await api.get("/v1/accounts/NOPE")
    await api.post("/v1/action/query", QUERY)
    await api.post("/v1/accounts", {"name": "x"})
    stats = await api.stats()
    assert stats["by_method"] == {"GET": 2, "POST": 3}
    assert stats["by_group"] == {"auth": 1, "reads": 2, "zoql": 1, "writes": 1}
    assert stats["by_status"] == {"200": 4, "400": 1}
    assert stats["paths"]["/v1/accounts/A00000001"] == 1
    assert {"method": "POST", "group": "writes", "status": "400", "count": 1} in stats["requests"]
    assert stats["in_flight"] == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("fault", {"mode": "explode"}),
        ("fault", {"mode": "down", "scope": "everything"}),
        ("fault", {"mode": "flaky", "rate": 2}),
        ("fault", {"mode": "slow", "distribution": "zipf"}),
        ("timeline", {"phases": []}),
        ("timeline", {"phases": [{"mode": "down", "duration": -1}]}),
        ("limits", {"default": 0}),
    ],
)
async def test_bad_control_requests_are_400(api: Api, path: str, body: object) -> None:
    async with api.session.post(f"{api.fz.url}/__fake/{path}", json=body) as resp:
        assert resp.status == 400
        assert "error" in await resp.json()


async def test_the_per_minute_rate_limit_is_enforced_on_the_injected_clock(
    api: Api, clock: FakeClock
) -> None:
    await api.control("POST", "limits", {"rate_per_minute": 3})
    statuses = await _statuses(api, 4)
    assert statuses == [200, 200, 200, 429]
    clock.advance(60)
    assert await _statuses(api, 1) == [200]
