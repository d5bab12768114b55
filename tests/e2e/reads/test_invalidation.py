"""What removes entries (a write, Zuora's callout, a 401, the admin purge) and what is never
stored (``success: false``, non-200s, tokens and payments)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.reads.helpers import OTHER_CLIENT_ID
from tests.support import zproxy_stack
from tests.support.fake import accounts, path_count
from tests.support.http import ADMIN, caller, request
from tests.support.metrics import cache_counts
from zproxy.testing.fake_zuora.faults import parse_rule

MISS = "zproxy; fwd=miss; stored"
#: A soft-purged entry: not served, fetched again and stored anew.
REFETCHED = "zproxy; fwd=stale; fwd-status=200; stored"
CALLOUT_SECRET = "callout-secret-for-tests"


def _hit(cache_status: str) -> bool:
    return cache_status.startswith("zproxy; hit; ttl=")


async def test_writes_and_callouts_purge_everyones_entries_of_what_changed(
    tmp_path: Path, redis_url: str
) -> None:
    env = {"ZPROXY_CALLOUT_SECRET": CALLOUT_SECRET}
    async with (
        zproxy_stack(tmp_path, redis_url, env=env) as (fz, [zp]),
        aiohttp.ClientSession() as http,
    ):
        a, b = accounts(fz)[:2]
        alice = await caller(http, fz, zp)
        bob = await caller(http, fz, zp, OTHER_CLIENT_ID)
        paths = [f"/v1/accounts/{a}", f"/v1/accounts/{a}/summary", f"/v1/accounts/{b}"]
        for who in (alice, bob):
            for p in paths:
                assert (await who.get(p)).cache == MISS
                assert _hit((await who.get(p)).cache)

        # a write through zproxy: the next read of that account is fetched again and is new
        put = await alice.put(f"/v1/accounts/{a}", {"notes": "changed through zproxy"})
        assert put.status == 200
        assert put.json()["success"] is True
        after = await alice.get(paths[0])
        assert after.cache == REFETCHED
        assert after.json()["basicInfo"]["notes"] == "changed through zproxy"
        assert (await alice.get(paths[1])).cache == REFETCHED
        assert _hit((await alice.get(paths[2])).cache)  # another account: untouched
        # the data changed for everyone who can see it: another caller's entries too
        bobs = await bob.get(paths[0])
        assert bobs.cache == REFETCHED
        assert bobs.json()["basicInfo"]["notes"] == "changed through zproxy"
        assert (await bob.get(paths[1])).cache == REFETCHED
        assert _hit((await bob.get(paths[2])).cache)

        # the callout: wrong secret refused, right secret purges the account for everyone
        callout = zp.url + "/_zproxy/callouts"
        wrong = await request(
            http, "POST", callout, json={"accountNumber": a}, headers={"X-Callout-Secret": "no"}
        )
        assert wrong.status == 401
        assert _hit((await bob.get(paths[0])).cache)
        ok = await request(
            http,
            "POST",
            callout,
            json={"accountNumber": a},
            headers={"X-Callout-Secret": CALLOUT_SECRET},
        )
        assert ok.status == 200, ok.body
        assert ok.json()["purged"] == 4  # alice's and bob's account + summary
        # Zuora goes down right after: the soft-purged entries still beat an error ...
        fz.fake.set_fault(parse_rule({"mode": "down"}))
        during = await bob.get(paths[0])
        assert (during.status, during.cache) == (200, "zproxy; hit; detail=stale-if-error")
        assert during.json()["basicInfo"]["notes"] == "changed through zproxy"
        fz.fake.set_fault(parse_rule({"mode": "up"}))
        # ... and once it is back they are fetched again
        for who in (alice, bob):
            assert (await who.get(paths[0])).cache == REFETCHED
            assert (await who.get(paths[1])).cache == REFETCHED
            assert _hit((await who.get(paths[2])).cache)
        # 2 cold GETs + the PUT + alice's and bob's GETs after it + bob's refetch during the
        # outage (2 attempts: a GET is retried) + 2 GETs after it
        assert path_count(fz, paths[0]) == 9


async def test_a_401_purges_that_identitys_entries(tmp_path: Path, redis_url: str) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        a, b = accounts(fz)[:2]
        alice = await caller(http, fz, zp)
        bob = await caller(http, fz, zp, OTHER_CLIENT_ID)
        cached = [f"/v1/accounts/{a}", f"/v1/accounts/{b}"]
        for who in (alice, bob):
            for p in cached:
                await who.get(p)
                assert _hit((await who.get(p)).cache)

        # Zuora revokes alice's token. Cached keys still hit (zproxy cannot know) ...
        del fz.fake.auth.tokens[alice.token]
        assert _hit((await alice.get(cached[0])).cache)
        # ... until a read goes upstream and Zuora answers 401: her entries are purged.
        refused = await alice.get(f"/v1/accounts/{a}/summary")
        assert refused.status == 401
        assert refused.cache == "zproxy; fwd=miss"
        again = await alice.get(cached[0])
        assert again.status == 401, "a refused token must not be served from cache"
        # a new token of the same client (same principal) starts cold; bob is untouched
        alice.token = (await caller(http, fz, zp)).token
        for p in cached:
            assert (await alice.get(p)).cache == MISS
            assert _hit((await bob.get(p)).cache)


async def test_admin_purge_by_tags_and_all(tmp_path: Path, redis_url: str) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        a, b = accounts(fz)[:2]
        alice = await caller(http, fz, zp)
        bob = await caller(http, fz, zp, OTHER_CLIENT_ID)
        paths = [f"/v1/accounts/{a}", f"/v1/accounts/{a}/summary", f"/v1/accounts/{b}"]
        for who in (alice, bob):
            for p in paths:
                await who.get(p)
        purge = zp.admin_url + "/admin/cache/purge"
        assert (await request(http, "POST", purge, json={"all": True})).status == 401

        by_tag = await request(http, "POST", purge, json={"tags": [f"account:{a}"]}, headers=ADMIN)
        assert by_tag.status == 200, by_tag.body
        assert by_tag.json() == {"purged": 4}
        assert (await alice.get(paths[0])).cache == MISS
        assert _hit((await bob.get(paths[2])).cache)

        everything = await request(http, "POST", purge, json={"all": True}, headers=ADMIN)
        assert everything.json() == {"purged": 3}  # alice's a, both b entries
        for who in (alice, bob):
            assert (await who.get(paths[2])).cache == MISS


async def test_post_reads_are_keyed_by_body(tmp_path: Path, redis_url: str) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        alice = await caller(http, fz, zp)
        query = "/v1/action/query"
        q1 = {"queryString": "select Id, Name from Account"}
        q2 = {"queryString": "select Id, AccountNumber from Account"}
        first = await alice.post(query, q1)
        assert first.status == 200
        assert first.cache == MISS
        assert first.json()["size"] >= 1
        same = await alice.post(query, q1)
        assert _hit(same.cache)
        assert same.body == first.body
        other = await alice.post(query, q2)
        assert other.cache == MISS
        assert other.body != first.body
        assert _hit((await alice.post(query, q2)).cache)
        assert path_count(fz, query) == 2
        counts = await cache_counts(http, zp)
        assert counts[("zoql_query", "miss")] == 2
        assert counts[("zoql_query", "hit")] == 2


async def test_failures_tokens_and_payments_are_never_cached(
    tmp_path: Path, redis_url: str
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        alice = await caller(http, fz, zp)
        account = accounts(fz)[0]
        # success:false with HTTP 200 (not found) and a non-200 (a ZOQL 400): never stored
        missing = "/v1/accounts/A-NO-SUCH-ACCOUNT"
        bad = {"queryString": "this is not ZOQL"}
        for _ in range(2):
            nf = await alice.get(missing)
            assert nf.status == 200
            assert nf.json()["success"] is False
            assert nf.cache == "zproxy; fwd=miss"
            malformed = await alice.post("/v1/action/query", bad)
            assert malformed.status == 400
            assert malformed.cache == "zproxy; fwd=miss"
        assert path_count(fz, missing) == 2
        assert path_count(fz, "/v1/action/query") == 2

        # tokens and money: forwarded every time, never a Cache-Status hit
        tokens = set()
        for _ in range(2):
            tokens.add((await caller(http, fz, zp)).token)
            pay = await alice.post(
                "/v1/payments", {"accountNumber": account, "amount": 1, "type": "External"}
            )
            assert pay.status == 200, pay.body
            assert "hit" not in pay.cache
            assert "Age" not in pay.headers
            listing = await alice.get("/v1/payments")
            assert "hit" not in listing.cache
        assert len(tokens) == 2
        assert path_count(fz, "/v1/payments") == 4
        counts = await cache_counts(http, zp)
        assert counts[("account", "miss")] == 2
        assert counts[("zoql_query", "miss")] == 2
        assert not [k for k in counts if k[0] in ("oauth_token", "payments_write")]
        assert not [k for k in counts if k[1] == "hit"]
