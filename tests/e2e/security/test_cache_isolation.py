"""Cache isolation under concurrency (reliability-security §3.3, checklist 17-18): many
credentials of two tenants read the same URLs at once, through two zproxy processes, while
clients give up mid-request and the cache is purged between rounds. The fake Zuora seeds each
tenant with different data under the same account numbers, so an answer that crossed
identities would show: every 200 must be exactly its own tenant's answer."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.support import zproxy_stack
from tests.support.http import admin, request
from zproxy.testing.fake_zuora.faults import parse_rule

CLIENTS = {
    "0b3f8f0e-1111-4c6e-9a55-3f1d2c4b5a60": ("secret-t1-a", 1),
    "0b3f8f0e-2222-4c6e-9a55-3f1d2c4b5a60": ("secret-t1-b", 1),
    "7c4d5433-3333-4c36-9a01-b9719ecd059f": ("secret-t2-a", 2),
    "7c4d5433-4444-4c36-9a01-b9719ecd059f": ("secret-t2-b", 2),
}
PATHS = (
    "/v1/accounts/A00000001",
    "/v1/accounts/A00000002",
    "/v1/accounts/A00000001/summary",
    "/v1/subscriptions/accounts/A00000001",
    "/v1/subscriptions/A-S00000001",
    "/v1/catalog/products",
)
ROUNDS = 3
PER_ROUND = 160


@dataclass(frozen=True, slots=True)
class Cred:
    tenant: int
    headers: dict[str, str]


async def _token(http: aiohttp.ClientSession, base: str, client_id: str, secret: str) -> str:
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    reply = await request(http, "POST", base + "/oauth/token", data=form)
    assert reply.status == 200, reply.body
    return str(reply.json()["access_token"])


async def _credentials(http: aiohttp.ClientSession, base: str) -> list[Cred]:
    """Two tokens per client (learned by zproxy through /oauth/token) and the legacy keys."""
    creds: list[Cred] = []
    for client_id, (secret, tenant) in CLIENTS.items():
        for _ in range(2):
            token = await _token(http, base, client_id, secret)
            creds.append(Cred(tenant, {"Authorization": f"Bearer {token}"}))
        legacy = {"apiAccessKeyId": client_id, "apiSecretAccessKey": secret}
        creds.append(Cred(tenant, legacy))
    return creds


async def _baseline(http: aiohttp.ClientSession, fake_url: str) -> dict[tuple[int, str], bytes]:
    """Each tenant's answer to each path, straight from the fake (asked twice: stable)."""
    out: dict[tuple[int, str], bytes] = {}
    for client_id, (secret, tenant) in CLIENTS.items():
        token = await _token(http, fake_url, client_id, secret)
        for path in PATHS:
            answers = [
                (
                    await request(
                        http, "GET", fake_url + path, headers={"Authorization": f"Bearer {token}"}
                    )
                )
                for _ in range(2)
            ]
            assert answers[0].status == 200
            assert answers[0].body == answers[1].body
            out.setdefault((tenant, path), answers[0].body)
            assert out[(tenant, path)] == answers[0].body  # same tenant, same answer
    for path in PATHS:
        assert out[(1, path)] != out[(2, path)]  # a leak would be visible
    return out


async def test_concurrent_reads_of_many_credentials_never_cross_identities(
    tmp_path: Path, redis_url: str
) -> None:
    fake_kwargs = {
        "clients": {cid: secret for cid, (secret, _) in CLIENTS.items()},
        "tenants": {cid: tenant for cid, (_, tenant) in CLIENTS.items()},
        "accounts": 3,
    }
    rng = random.Random(20240611)
    async with (
        zproxy_stack(tmp_path, redis_url, processes=2, fake_kwargs=fake_kwargs) as (fz, procs),
        aiohttp.ClientSession() as http,
    ):
        expected = await _baseline(http, fz.url)
        creds = await _credentials(http, procs[0].url)
        # Jittered latency so fetches, coalesced waits and cancellations overlap.
        fz.fake.set_fault(
            parse_rule({"mode": "slow", "latency_ms": 25, "jitter_ms": 25, "scope": "reads"})
        )
        wrong: list[str] = []
        results: dict[str, int] = {"ok": 0, "hit": 0, "cancelled": 0, "other": 0}

        async def one(cred: Cred, path: str, base: str, give_up: float | None) -> None:
            headers = dict(cred.headers)
            if rng.random() < 0.1:
                headers["Cache-Control"] = "no-cache"
            try:
                async with asyncio.timeout(give_up):
                    reply = await request(http, "GET", base + path, headers=headers)
            except TimeoutError:
                results["cancelled"] += 1
                return
            if reply.status != 200:
                results["other"] += 1  # e.g. the fake's per-tenant concurrency 429
                return
            results["ok"] += 1
            results["hit"] += "hit" in reply.headers.get("Cache-Status", "")
            if reply.body != expected[(cred.tenant, path)]:
                wrong.append(f"tenant {cred.tenant} {path}: {reply.body[:120]!r}")

        for _ in range(ROUNDS):
            tasks = [
                one(
                    rng.choice(creds),
                    rng.choice(PATHS),
                    rng.choice(procs).url,
                    rng.choice([None, None, 0.005, 0.02, 0.04, 0.08]),
                )
                for _ in range(PER_ROUND)
            ]
            await asyncio.gather(*tasks)
            purge = await admin(http, procs[0], "POST", "/admin/cache/purge", json={"all": True})
            assert purge.status == 200
        # Once more with everything settled: hits on warm entries must still be one's own.
        fz.fake.set_fault(parse_rule({"mode": "up"}))
        for cred in creds:
            for path in PATHS:
                for proc in procs:
                    await one(cred, path, proc.url, None)

    assert wrong == []
    assert results["ok"] >= PER_ROUND  # the test did read a lot
    assert results["hit"] > 0  # and exercised both paths
    assert results["cancelled"] > 0
