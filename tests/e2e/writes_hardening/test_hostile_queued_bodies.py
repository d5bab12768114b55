"""Queued writes with hostile bodies that are still JSON objects (nested 300 deep, numbers no
double holds, duplicate keys) are shown by every operator view: ``GET /admin/writes?state=queued``
and ``?state=dead``, ``GET /admin/writes/{id}``, ``zproxy queue ls|show`` answer 200 / exit 0
with redacted bodies, never a 500 (issue 12 finding 4). Real zproxy, fake Zuora, Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.writes.helpers import assert_accepted
from tests.e2e.writes.test_queue_cli import cli, listen_of
from tests.support import eventually, zproxy_stack
from tests.support.http import admin, bearer, request, set_mode
from zproxy.testing.proxy_process import ZproxyProcess

#: Not an account the fake knows: every replay is answered 200 ``success: false`` -> dead.
UNKNOWN = "A99999999"
SECRET = "hunter2-secret"
#: 16 digits that fail the Luhn check: queueable, yet shown with only the last 4.
DIGITS = "4111 1111 1111 1112"


def deep(levels: int, leaf: bytes) -> bytes:
    """An object ``levels`` deep; the outermost object also carries a secret."""
    inner = b'{"a":' * (levels - 1) + leaf + b"}" * (levels - 1)
    return b'{"password": "' + SECRET.encode() + b'", "notes": ' + inner + b"}"


BODIES = {
    "deep_300_objects": deep(300, b'"' + DIGITS.encode() + b'"'),
    "deep_300_arrays": b'{"password": "'
    + SECRET.encode()
    + b'", "n": '
    + b"[" * 299
    + b"]" * 299
    + b"}",
    "huge_integer": b'{"password": "' + SECRET.encode() + b'", "n": 1' + b"0" * 400 + b"}",
    "beyond_double": b'{"password": "' + SECRET.encode() + b'", "n": 1e400, "m": -1e-400}',
    "duplicate_keys": (
        b'{"password": "' + SECRET.encode() + b'", "password": "x-' + SECRET.encode() + b'", '
        b'"notes": "' + DIGITS.encode() + b'", "notes": "again"}'
    ),
}


def assert_redacted(text: str) -> None:
    assert SECRET not in text
    assert DIGITS not in text
    assert DIGITS.replace(" ", "") not in text
    assert "Traceback" not in text


async def view(http: aiohttp.ClientSession, proc: ZproxyProcess, path: str) -> Any:
    reply = await admin(http, proc, "GET", path)
    assert reply.status == 200, (path, reply.status, reply.body[:300])
    assert_redacted(reply.text)
    return reply.json()


async def check_views(
    http: aiohttp.ClientSession, proc: ZproxyProcess, state: str, ids: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The list, each write and the CLI for writes in ``state``; the views by body name."""
    listed = await view(http, proc, f"/admin/writes?state={state}")
    assert sorted(w["writeId"] for w in listed["writes"]) == sorted(ids.values())
    shown = {name: await view(http, proc, f"/admin/writes/{wid}") for name, wid in ids.items()}
    for one in shown.values():
        assert one["state"] == state
        assert isinstance(one["body"], str)
    ls = await cli("ls", "--state", state, listen=listen_of(proc))
    assert ls.code == 0, ls.err
    assert sorted(row.split()[0] for row in ls.out.splitlines()[1:]) == sorted(ids.values())
    for wid in ids.values():
        show = await cli("show", wid, listen=listen_of(proc))
        assert show.code == 0, show.err
        assert_redacted(show.out)
        assert json.loads(show.out)["writeId"] == wid
    return shown


async def test_hostile_object_bodies_are_queued_and_shown_by_every_view(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        await set_mode(http, proc, "force_open", group="writes")
        headers = {**bearer(token), "Content-Type": "application/json"}
        ids: dict[str, str] = {}
        for name, body in BODIES.items():
            url = f"{proc.url}/v1/accounts/{UNKNOWN}?case={name}"
            ids[name] = assert_accepted(await request(http, "PUT", url, data=body, headers=headers))

        shown = await check_views(http, proc, "queued", ids)
        # The walk stops at 64 levels; numbers no double holds leave the body as redacted text.
        assert "[TOO DEEP]" in shown["deep_300_objects"]["body"]
        assert "[TOO DEEP]" in shown["deep_300_arrays"]["body"]
        assert "1e400" in shown["beyond_double"]["body"]
        assert "1" + "0" * 400 in shown["huge_integer"]["body"]
        assert "[REDACTED]" in shown["duplicate_keys"]["body"]
        assert "************1112" in shown["duplicate_keys"]["body"]
        default_ls = await cli("ls", listen=listen_of(proc))
        assert default_ls.code == 0, default_ls.err

        await set_mode(http, proc, "auto")

        async def all_dead() -> bool:
            reply = await admin(http, proc, "GET", "/admin/writes?state=dead")
            return reply.status == 200 and len(reply.json()["writes"]) == len(ids)

        await eventually(all_dead, timeout=30)
        dead = await check_views(http, proc, "dead", ids)
        for one in dead.values():
            assert one["upstreamStatus"] == 200
            assert one["deadReason"] == "upstream_success_false"
            assert "Cannot find entity" in one["upstreamBody"]
        assert fz.fake.ledger.entries == []


async def test_a_limit_int_cannot_read_is_a_400(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (_fz, procs):
        for limit in ("\u00b2", "\u0661\u0660", "0", "1001", "9" * 40, "-1", ""):
            reply = await admin(http, procs[0], "GET", f"/admin/writes?state=queued&limit={limit}")
            assert reply.status == 400, (limit, reply.status, reply.body)
            assert reply.json()["reasons"][0]["code"] == "ZPROXY_BAD_LIMIT"
        ok = await admin(http, procs[0], "GET", "/admin/writes?state=dead&limit=1000")
        assert ok.status == 200
