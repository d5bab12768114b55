"""Helpers for the durable write queue end to end: real zproxy processes, real Redis, the fake
Zuora in the test's event loop, and its ledger as the witness of what was applied."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support import eventually as eventually
from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.faults import parse_rule
from zproxy.testing.fake_zuora.samples import order_body
from zproxy.testing.proxy_process import ZproxyProcess

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Breakers that recover quickly so a test never waits the shipped 10 s.
QUICK_BREAKERS: dict[str, Any] = {
    "breakers": {"defaults": {"reset_timeout": 0.5, "fail_max": 3}},
}
_SEQ = re.compile(r"[?&]seq=(\d+)")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass(slots=True)
class Sent:
    """What a test sent and what zproxy answered, per account in the order sent."""

    by_account: dict[str, list[tuple[int, Reply]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def accepted(self) -> list[tuple[str, int, Reply]]:
        return [
            (acct, seq, reply)
            for acct, replies in self.by_account.items()
            for seq, reply in replies
            if reply.status == 202
        ]


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    data: Any = None,
) -> Reply:
    async with session.request(method, url, json=json, data=data, headers=headers) as resp:
        try:
            body: Any = await resp.json(content_type=None)
        except ValueError:
            body = await resp.text()
        return Reply(resp.status, dict(resp.headers), body)


async def admin(
    session: aiohttp.ClientSession, proc: ZproxyProcess, method: str, path: str, json: Any = None
) -> Reply:
    return await call(session, method, proc.admin_url + path, json=json, headers=ADMIN)


async def set_breaker(
    session: aiohttp.ClientSession, proc: ZproxyProcess, mode: str, group: str | None = None
) -> None:
    body: dict[str, str] = {"mode": mode}
    if group is not None:
        body["group"] = group
    reply = await admin(session, proc, "POST", "/admin/breaker", body)
    assert reply.status == 200, reply.body


async def token_via(
    session: aiohttp.ClientSession, proc: ZproxyProcess, client_id: str, secret: str
) -> str:
    """A token obtained THROUGH zproxy, so zproxy learns which client it belongs to."""
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    reply = await call(session, "POST", proc.url + "/oauth/token", data=form)
    assert reply.status == 200, reply.body
    return str(reply.body["access_token"])


async def metric(session: aiohttp.ClientSession, proc: ZproxyProcess, name: str) -> float:
    async with session.get(proc.admin_url + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} not found")


async def drained(session: aiohttp.ClientSession, proc: ZproxyProcess) -> bool:
    return await metric(session, proc, "zproxy_write_queue_depth") == 0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fault(fz: RunningFakeZuora, *, add: bool = False, **rule: Any) -> None:
    fz.fake.set_fault(parse_rule(rule), add=add)


def restart(procs: list[ZproxyProcess], old: ZproxyProcess) -> ZproxyProcess:
    """A new zproxy on ``old``'s data dir, Redis, config and environment (new ports); added to
    ``procs`` so the stack stops it."""
    new = ZproxyProcess(
        upstream=old.upstream,
        redis_url=old.redis_url,
        data_dir=old.data_dir,
        env=old.extra_env,
        config=old.config,
    )
    procs.append(new)
    return new


def without_repeats(values: Sequence[int]) -> list[int]:
    """At-least-once delivery may repeat a write right after itself, never reorder."""
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


async def seed_accounts(session: aiohttp.ClientSession, fz: RunningFakeZuora) -> list[str]:
    async with session.get(fz.url + "/__fake/seed-info") as resp:
        info = await resp.json()
    return [str(a) for a in info["accounts"]]


async def rate_plan(session: aiohttp.ClientSession, fz: RunningFakeZuora) -> str:
    async with session.get(fz.url + "/__fake/seed-info") as resp:
        info = await resp.json()
    return str(info["productRatePlans"][0]["id"])


def order_key(account: str, seq: int) -> str:
    return f"order-{account}-{seq}"


async def put_account(
    session: aiohttp.ClientSession, proc: ZproxyProcess, token: str, account: str, seq: int
) -> Reply:
    """A queueable PUT (queues without Prefer); its ``seq`` shows in the ledger's path."""
    return await call(
        session,
        "PUT",
        f"{proc.url}/v1/accounts/{account}?seq={seq}",
        json={"notes": f"seq {seq}", "seq__c": str(seq)},
        headers=bearer(token),
    )


async def post_order(
    session: aiohttp.ClientSession,
    proc: ZproxyProcess,
    token: str,
    account: str,
    plan: str,
    seq: int,
) -> Reply:
    """An order with ``Prefer: respond-async`` and the client's own Idempotency-Key."""
    headers = {
        **bearer(token),
        "Prefer": "respond-async",
        "Idempotency-Key": order_key(account, seq),
    }
    return await call(
        session,
        "POST",
        f"{proc.url}/v1/orders?seq={seq}",
        json=order_body(account, plan),
        headers=headers,
    )


def assert_accepted(reply: Reply) -> str:
    """A CONTRACT §2 202: Location, Preference-Applied and the body; returns the write id."""
    assert reply.status == 202, reply.body
    body = reply.body
    assert body["success"] is True
    assert body["queued"] is True
    write_id = body["writeId"]
    assert body["statusUrl"] == f"/_zproxy/writes/{write_id}"
    assert reply.headers["Location"] == body["statusUrl"]
    assert reply.headers["Preference-Applied"] == "respond-async"
    assert body["idempotencyKey"]
    return str(write_id)


def assert_refused(reply: Reply) -> None:
    """503 ``queued: false``, never a 202."""
    assert reply.status == 503, (reply.status, reply.body)
    assert reply.body["queued"] is False
    assert reply.body["success"] is False
    assert "Retry-After" in reply.headers


def ledger_seqs(fz: RunningFakeZuora) -> dict[str, list[int]]:
    """Per account, the ``seq`` of every applied write in the order the fake applied them."""
    out: dict[str, list[int]] = defaultdict(list)
    for entry in fz.fake.ledger.entries:
        found = _SEQ.search(entry.path)
        if found and entry.account is not None:
            out[entry.account].append(int(found.group(1)))
    return out


def post_keys(fz: RunningFakeZuora) -> list[str]:
    return [e.idempotency_key or "" for e in fz.fake.ledger.entries if e.method == "POST"]
