"""Credentials and card data never show (reliability-security §3.6, checklist 25): bearer
tokens, legacy API keys, session cookies, ``client_secret`` in form bodies, Luhn-valid card
numbers and CVVs are driven through reads, pass-through writes, queued and dead-lettered
writes and malformed requests; then the log file, ``/metrics``, every error body and the
operator's write views are searched for them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from tests.support import eventually, zproxy_stack
from tests.support.http import Reply, admin, raw_exchange, request

CLIENT_ID = "0b3f8f0e-5c1d-4c6e-9a55-3f1d2c4b5a61"
CLIENT_SECRET = "cs-SECRET-4242"  # a marker to search for
SESSION = "zsess-SECRET-77"
PASSWORD = "pw-SECRET-9"
PAN = "4111111111111111"
CVV_SHOWN = re.compile(r"(?i)securityCode\W{0,8}828")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _queue_writes(
    http: aiohttp.ClientSession, base: str, bearer: dict[str, str]
) -> tuple[list[Reply], list[str]]:
    """Writes sent while the breaker is forced open; Zuora will refuse the queued one on replay."""
    replies = [
        await request(
            http,
            "PUT",
            base + "/v1/accounts/A00000002?client_secret=" + CLIENT_SECRET,
            json={"billCycleDay": 99, "password": PASSWORD, "client_secret": CLIENT_SECRET},
            headers={**bearer, "Cookie": f"theme=dark; ZSession={SESSION}"},
        ),
        await request(
            http,
            "PUT",
            base + "/v1/accounts/A00000003",
            data=f"billCycleDay=99&client_secret={CLIENT_SECRET}&password={PASSWORD}",
            headers={
                **bearer,
                **FORM,
                "apiAccessKeyId": CLIENT_ID,
                "apiSecretAccessKey": CLIENT_SECRET,
            },
        ),
    ]
    # The JSON write is queued; the form body is one Zuora's JSON API would refuse, so it is
    # answered 400 at once instead of a 202 that could never be kept (its answer is searched
    # for the secrets it carried like every other).
    assert replies[0].status == 202, replies[0].body
    assert replies[1].status == 400, replies[1].body
    assert replies[1].json()["reasons"][0]["code"] == "ZPROXY_INVALID_BODY"
    return replies, [str(replies[0].json()["writeId"])]


async def _malformed(port: int) -> None:
    """Requests aiohttp cannot parse: its excerpt of the bad line must not reach the log."""
    for line in (
        "Authorization: Bearer adm-SECRET-1\rX",
        f"Cookie: a=b; ZSession={SESSION}\rX",
        f"apiSecretAccessKey: {CLIENT_SECRET}\x00",
    ):
        raw = await raw_exchange(
            port, f"GET /metrics HTTP/1.1\r\nHost: a\r\n{line}\r\n\r\n".encode()
        )
        assert raw.status == 400


async def test_secrets_and_card_data_never_reach_logs_metrics_error_bodies_or_views(
    tmp_path: Path, redis_url: str
) -> None:
    fake_kwargs = {"clients": {CLIENT_ID: CLIENT_SECRET}}
    seen: list[Reply] = []  # every answer a client or operator got, except the token grant
    async with (
        zproxy_stack(tmp_path, redis_url, fake_kwargs=fake_kwargs) as (_fz, procs),
        aiohttp.ClientSession() as http,
    ):
        proc = procs[0]
        form = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "client_credentials",
        }
        grant = await request(http, "POST", proc.url + "/oauth/token", data=form)
        token = str(grant.json()["access_token"])
        bearer = {"Authorization": f"Bearer {token}"}
        legacy = {"apiAccessKeyId": CLIENT_ID, "apiSecretAccessKey": CLIENT_SECRET}
        cookie = {**bearer, "Cookie": f"theme=dark; ZSession={SESSION}"}

        # Reads: every credential kind, a PAN in the path and in the query, a refused token.
        for headers in (bearer, legacy, cookie):
            seen.append(
                await request(http, "GET", proc.url + "/v1/accounts/A00000001", headers=headers)
            )
        for path in (f"/v1/accounts/{PAN}", f"/v1/accounts/A00000001?cardNumber={PAN}"):
            # Zuora's own answer may quote the number back: it is the client's, not checked.
            assert (await request(http, "GET", proc.url + path, headers=bearer)).status == 200
        refused = await request(
            http,
            "GET",
            proc.url + "/v1/accounts/A00000001",
            headers={"Authorization": "Bearer bogus-SECRET-token"},
        )
        assert refused.status == 401
        seen.append(refused)
        # A bad form body at /oauth/token, passed through.
        seen.append(
            await request(
                http,
                "POST",
                proc.url + "/oauth/token",
                headers=FORM,
                data=f"client_id={CLIENT_ID}&client_secret=wrong-SECRET-1",
            )
        )
        # A card write passes through (never queued); a PAN in a queueable write is refused.
        card = {
            "type": "CreditCard",
            "accountKey": "A00000001",
            "creditCardNumber": PAN,
            "securityCode": "828",
            "expirationMonth": 12,
            "expirationYear": 2031,
        }
        seen.append(
            await request(http, "POST", proc.url + "/v1/payment-methods", json=card, headers=bearer)
        )
        breaker = await admin(http, proc, "POST", "/admin/breaker", json={"mode": "force_open"})
        assert breaker.status == 200
        no_queue = await request(
            http,
            "PUT",
            proc.url + "/v1/accounts/A00000001",
            json={"notes": "card 4111 1111 1111 1111, cvv", "securityCode": "828"},
            headers=bearer,
        )
        assert no_queue.status == 503
        assert no_queue.json()["queued"] is False
        seen.append(no_queue)
        seen.append(
            await request(http, "POST", proc.url + "/v1/payment-methods", json=card, headers=bearer)
        )

        # Queued writes with secrets in headers, query and (JSON and form) bodies ...
        queued, ids = await _queue_writes(http, proc.url, bearer)
        seen += queued
        seen.append(await admin(http, proc, "GET", "/admin/writes?state=queued"))
        seen += [await admin(http, proc, "GET", f"/admin/writes/{i}") for i in ids]
        # ... which Zuora refuses on replay: dead letters with its answer.
        breaker = await admin(http, proc, "POST", "/admin/breaker", json={"mode": "auto"})
        assert breaker.status == 200

        async def all_dead() -> bool:
            listing = await admin(http, proc, "GET", "/admin/writes?state=dead")
            return len(listing.json()["writes"]) == len(ids)

        await eventually(all_dead, timeout=20.0, every=0.05)
        dead = await admin(http, proc, "GET", "/admin/writes?state=dead")
        assert {w["deadReason"] for w in dead.json()["writes"]} == {"upstream_400"}
        seen.append(dead)
        seen += [await admin(http, proc, "GET", f"/admin/writes/{i}") for i in ids]
        seen += [
            await request(http, "GET", f"{proc.url}/_zproxy/writes/{i}", headers=bearer)
            for i in ids
        ]

        await _malformed(proc.port)
        await _malformed(proc.admin_port)
        raw = await raw_exchange(  # was a 500 with a traceback in the log
            proc.admin_port,
            b"GET /admin/writes HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \xff\r\n"
            b"Connection: close\r\n\r\n",
        )
        assert raw.status == 401
        async with http.get(proc.admin_url + "/metrics") as resp:
            metrics = await resp.text()
        await asyncio.to_thread(proc.terminate)  # flush and close the log
        logs = proc.logs()

    forbidden = [
        token,
        CLIENT_SECRET,
        SESSION,
        PASSWORD,
        PAN,
        "4111 1111 1111 1111",
        "adm-SECRET-1",
        "bogus-SECRET-token",
        "wrong-SECRET-1",
        "test-admin-token",
    ]
    places = {"log": logs, "metrics": metrics}
    places |= {
        f"answer {i} ({r.status})": r.body.decode(errors="replace") for i, r in enumerate(seen)
    }
    leaks = [
        f"{secret!r} in {where}"
        for where, text in places.items()
        for secret in forbidden
        if secret in text
    ]
    leaks += [f"CVV in {where}" for where, text in places.items() if CVV_SHOWN.search(text)]
    # No traceback in any answer; the log has aiohttp's (redacted) ones for the admin port.
    leaks += [
        f"traceback in {w}" for w, text in places.items() if w != "log" and "Traceback" in text
    ]
    assert leaks == []
    # The views still say what they hold: masked, not emptied.
    shown = "".join(r.body.decode() for r in seen if b"writeId" in r.body)
    assert "[REDACTED]" in shown
    assert '"event":"request"' in logs
