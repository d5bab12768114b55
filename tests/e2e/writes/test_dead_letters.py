"""Dead letters: a 4xx from Zuora and an expired write, seen and handled on the admin API with
credentials and card-like numbers redacted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import assert_accepted, drained, ledger_seqs, put_account
from tests.support import eventually, zproxy_stack
from tests.support.http import admin, bearer, request, set_mode

MAX_AGE = 1.5
#: 13+ digits that fail the Luhn check: queueable (not card data), still masked in views.
LONG_NUMBER = "1234567890123"


async def test_rejected_and_expired_writes_are_dead_lettered_and_manageable(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    overrides = {"queue": {"max_age": MAX_AGE}}
    async with zproxy_stack(tmp_path, redis_url, overrides=overrides) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        await set_mode(http, proc, "force_open")
        expired = assert_accepted(await put_account(http, proc, token, "A00000003", 1))
        await asyncio.sleep(MAX_AGE + 0.3)  # wall time must pass in the zproxy process
        bad = {"billCycleDay": 99, "notes": f"ref {LONG_NUMBER}"}
        reply = await request(
            http, "PUT", proc.url + "/v1/accounts/A00000004?seq=1", json=bad, headers=bearer(token)
        )
        rejected = assert_accepted(reply)
        await set_mode(http, proc, "auto")
        await eventually(lambda: drained(http, proc))

        listing = await admin(http, proc, "GET", "/admin/writes?state=dead")
        assert listing.status == 200
        dead = {w["writeId"]: w for w in listing.json()["writes"]}
        assert set(dead) == {expired, rejected}
        assert dead[expired]["deadReason"] == "expired_idempotency_window"
        assert dead[expired]["upstreamStatus"] is None  # never sent
        assert dead[rejected]["deadReason"] == "upstream_400"
        assert dead[rejected]["upstreamStatus"] == 400
        text = json.dumps(listing.json())
        assert token not in text
        assert "Authorization" not in text
        assert LONG_NUMBER not in text
        assert LONG_NUMBER[-4:] in text
        assert ledger_seqs(fz) == {}  # nothing applied: one expired, one refused by Zuora

        shown = await admin(http, proc, "GET", f"/admin/writes/{rejected}")
        assert shown.status == 200
        assert shown.json()["state"] == "dead"
        assert token not in json.dumps(shown.json())
        status = await request(
            http, "GET", f"{proc.url}/_zproxy/writes/{rejected}", headers=bearer(token)
        )
        assert status.json()["state"] == "dead"
        assert status.json()["upstreamStatus"] == 400

        # The operator re-queues the expired write: its age counts from now, so it applies.
        retried = await admin(http, proc, "POST", f"/admin/writes/{expired}/retry")
        assert retried.status == 200
        assert retried.json()["state"] == "queued"
        await eventually(lambda: drained(http, proc))
        assert ledger_seqs(fz) == {"A00000003": [1]}
        shown = await admin(http, proc, "GET", f"/admin/writes/{expired}")
        assert shown.json()["state"] == "applied"
        again = await admin(http, proc, "POST", f"/admin/writes/{expired}/retry")
        assert again.status == 409  # only dead writes can be retried

        # ... and drops the rejected one for good.
        dropped = await admin(http, proc, "DELETE", f"/admin/writes/{rejected}")
        assert dropped.status == 200
        assert dropped.json()["dropped"] is True
        assert (await admin(http, proc, "GET", f"/admin/writes/{rejected}")).status == 404
        assert (await admin(http, proc, "DELETE", f"/admin/writes/{rejected}")).status == 404
        listing = await admin(http, proc, "GET", "/admin/writes?state=dead")
        assert listing.json()["writes"] == []
        bad = await admin(http, proc, "POST", "/admin/cache/purge", "not json")
        assert (bad.status, bad.json()["reasons"][0]["code"]) == (400, "ZPROXY_BAD_JSON")
        for query in ("state=dead&limit=x", "state=dead&limit=0", "state=bogus"):
            assert (await admin(http, proc, "GET", "/admin/writes?" + query)).status == 400
        no_token = await request(http, "GET", proc.admin_url + "/admin/writes?state=dead")
        assert no_token.status == 401
