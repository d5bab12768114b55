"""Helpers for the durable write queue end to end: the writes tests send, what a 202 or a refusal
looks like, and the fake Zuora's ledger as the witness of what was applied (the shared client,
admin, metric and launcher helpers are in ``tests.support``)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.http import Reply, bearer, request
from tests.support.metrics import metric
from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.samples import order_body
from zproxy.testing.proxy_process import ZproxyProcess

#: Breakers that recover quickly so a test never waits the shipped 10 s.
QUICK_BREAKERS: dict[str, Any] = {
    "breakers": {"defaults": {"reset_timeout": 0.5, "fail_max": 3}},
}
_SEQ = re.compile(r"[?&]seq=(\d+)")


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


async def drained(session: aiohttp.ClientSession, proc: ZproxyProcess) -> bool:
    return await metric(session, proc, "zproxy_write_queue_depth") == 0


def without_repeats(values: Sequence[int]) -> list[int]:
    """At-least-once delivery may repeat a write right after itself, never reorder."""
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def order_key(account: str, seq: int) -> str:
    return f"order-{account}-{seq}"


async def put_account(
    session: aiohttp.ClientSession, proc: ZproxyProcess, token: str, account: str, seq: int
) -> Reply:
    """A queueable PUT (queues without Prefer); its ``seq`` shows in the ledger's path."""
    return await request(
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
    return await request(
        session,
        "POST",
        f"{proc.url}/v1/orders?seq={seq}",
        json=order_body(account, plan),
        headers=headers,
    )


def assert_accepted(reply: Reply) -> str:
    """A CONTRACT §2 202: Location, Preference-Applied and the body; returns the write id."""
    assert reply.status == 202, reply.body
    body = reply.json()
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
    assert reply.json()["queued"] is False
    assert reply.json()["success"] is False
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
