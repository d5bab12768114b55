"""A second read is a hit; every part of the identity scopes entries; rotated tokens of one
client share them; requests without credentials are never served from cache."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from tests.e2e.reads.helpers import OTHER_CLIENT_ID
from tests.support import zproxy_stack
from tests.support.fake import accounts, path_count
from tests.support.http import caller, oauth_token, request
from tests.support.metrics import cache_counts

HIT = re.compile(r"^zproxy; hit; ttl=(\d+)$")


async def test_second_read_hits_and_identity_scopes_entries(tmp_path: Path, redis_url: str) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        account = accounts(fz)[0]
        path = f"/v1/accounts/{account}"
        alice = await caller(http, fz, zp)

        first = await alice.get(path)
        assert first.status == 200, first.body
        assert first.cache == "zproxy; fwd=miss; stored"
        assert "Age" not in first.headers
        second = await alice.get(path)
        assert second.status == 200
        m = HIT.match(second.cache)
        assert m is not None, second.cache
        assert 0 < int(m.group(1)) <= 60  # the shipped `account` route: fresh 60 s
        assert second.headers["Age"].isdigit()
        assert second.body == first.body
        assert second.headers["Content-Type"].startswith("application/json")
        assert path_count(fz, path) == 1

        # another credential (a second client id) misses
        bob = await caller(http, fz, zp, OTHER_CLIENT_ID)
        assert (await bob.get(path)).cache == "zproxy; fwd=miss; stored"
        assert path_count(fz, path) == 2
        # another Zuora-Entity-Ids, another Zuora-Version: each misses, then hits itself
        for extra in ({"Zuora-Entity-Ids": "e-1"}, {"Zuora-Version": "2024-05-20"}):
            assert (await alice.get(path, extra)).cache == "zproxy; fwd=miss; stored"
            assert HIT.match((await alice.get(path, extra)).cache)
        assert path_count(fz, path) == 4

        # a rotated token of the same client (learned through zproxy) hits alice's entry
        rotated = await oauth_token(http, zp.url, fz.client_id, fz.client_secret)
        assert rotated != alice.token
        alice.token = rotated
        assert HIT.match((await alice.get(path)).cache)
        assert path_count(fz, path) == 4

        # without credentials: never from cache (the fake refuses it: 401 passes through)
        for _ in range(2):
            anon = await request(http, "GET", zp.url + path)
            assert anon.cache == "zproxy; fwd=bypass"
            assert anon.status == 401
            assert "Age" not in anon.headers
        assert path_count(fz, path) == 6

        counts = await cache_counts(http, zp)
        assert counts[("account", "hit")] == 4
        assert counts[("account", "miss")] == 4
        assert counts[("account", "bypass")] == 2


async def test_a_token_zproxy_never_saw_issued_keys_on_its_own(
    tmp_path: Path, redis_url: str
) -> None:
    """A token fetched straight from Zuora (not through zproxy) is its own principal: it does
    not see entries of the same client's learned tokens, and is cached for itself."""
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        path = f"/v1/accounts/{accounts(fz)[1]}"
        alice = await caller(http, fz, zp)
        await alice.get(path)
        direct = await fz.token(http)
        headers = {"Authorization": f"Bearer {direct}"}
        first = await request(http, "GET", zp.url + path, headers=headers)
        assert first.cache == "zproxy; fwd=miss; stored"
        assert HIT.match((await request(http, "GET", zp.url + path, headers=headers)).cache)
        assert path_count(fz, path) == 2


async def test_no_cache_request_revalidates_and_metrics_count_each_request_once(
    tmp_path: Path, redis_url: str
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, [zp]), aiohttp.ClientSession() as http:
        path = f"/v1/accounts/{accounts(fz)[2]}/summary"
        alice = await caller(http, fz, zp)
        assert (await alice.get(path)).cache == "zproxy; fwd=miss; stored"
        forced = await alice.get(path, {"Cache-Control": "no-cache"})
        assert forced.cache == "zproxy; fwd=request; fwd-status=200; stored"
        assert "Age" not in forced.headers
        assert HIT.match((await alice.get(path)).cache)
        assert path_count(fz, path) == 2
        counts = await cache_counts(http, zp)
        assert {k[1]: v for k, v in counts.items() if k[0] == "account_summary"} == {
            "miss": 1,
            "revalidated": 1,
            "hit": 1,
        }
