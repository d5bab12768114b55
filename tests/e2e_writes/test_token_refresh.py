"""A write queued with a token that expires during the outage is replayed with the client's
newest token (learned as it passes through zproxy), not dead-lettered as a 401."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.e2e_writes.helpers import (
    assert_accepted,
    bearer,
    call,
    eventually,
    put_account,
    seed_accounts,
    set_breaker,
    token_via,
)
from tests.support import zproxy_stack
from zproxy.clock import FakeClock


async def test_replay_uses_the_newest_token_of_the_same_client(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    async with zproxy_stack(tmp_path, redis_url, fake_kwargs={"clock": clock}) as (fz, (zp,)):
        account = (await seed_accounts(http, fz))[0]
        old = await token_via(http, zp, fz.client_id, fz.client_secret)
        await set_breaker(http, zp, "force_open", "writes")
        write_id = assert_accepted(await put_account(http, zp, old, account, 1))

        clock.advance(2 * 3600)  # the outage outlasts the token's hour
        expired = await call(http, "GET", f"{fz.url}/v1/accounts/{account}", headers=bearer(old))
        assert expired.status == 401
        new = await token_via(http, zp, fz.client_id, fz.client_secret)
        assert new != old

        await set_breaker(http, zp, "auto", "writes")

        async def applied() -> bool:
            reply = await call(
                http, "GET", f"{zp.url}/_zproxy/writes/{write_id}", headers=bearer(new)
            )
            return reply.status == 200 and reply.body["state"] == "applied"

        await eventually(applied)
        puts = [e for e in fz.fake.ledger.entries if e.method == "PUT"]
        assert [e.account for e in puts] == [account]
