"""A write queued with a token that expires during the outage is replayed with the client's
newest token (learned as it passes through zproxy), not dead-lettered as a 401."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import assert_accepted, put_account
from tests.support import eventually, fake, zproxy_stack
from tests.support.http import bearer, oauth_token, request, set_mode
from zproxy.clock import FakeClock


async def test_replay_uses_the_newest_token_of_the_same_client(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    async with zproxy_stack(tmp_path, redis_url, fake_kwargs={"clock": clock}) as (fz, (zp,)):
        account = fake.accounts(fz)[0]
        old = await oauth_token(http, zp.url, fz.client_id, fz.client_secret)
        await set_mode(http, zp, "force_open", "writes")
        write_id = assert_accepted(await put_account(http, zp, old, account, 1))

        clock.advance(2 * 3600)  # the outage outlasts the token's hour
        expired = await request(http, "GET", f"{fz.url}/v1/accounts/{account}", headers=bearer(old))
        assert expired.status == 401
        new = await oauth_token(http, zp.url, fz.client_id, fz.client_secret)
        assert new != old

        await set_mode(http, zp, "auto", "writes")

        async def applied() -> bool:
            reply = await request(
                http, "GET", f"{zp.url}/_zproxy/writes/{write_id}", headers=bearer(new)
            )
            return reply.status == 200 and reply.json()["state"] == "applied"

        await eventually(applied)
        puts = [e for e in fz.fake.ledger.entries if e.method == "PUT"]
        assert [e.account for e in puts] == [account]
