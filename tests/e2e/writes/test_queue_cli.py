"""``zproxy queue ls|show|retry|drop`` as a subprocess against a running zproxy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.e2e.writes.helpers import assert_accepted, drained, put_account
from tests.support import ROOT, eventually, zproxy_stack
from tests.support.http import ADMIN_TOKEN, bearer, request, set_mode
from zproxy.store.embedded import free_port
from zproxy.testing.proxy_process import ZproxyProcess


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str


async def cli(*args: str, token: str | None = ADMIN_TOKEN, listen: str | None = None) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZPROXY_")}
    if token is not None:
        env["ZPROXY_ADMIN_TOKEN"] = token
    if listen is not None:
        env["ZPROXY_ADMIN_LISTEN"] = listen
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zproxy",
        "queue",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def listen_of(proc: ZproxyProcess) -> str:
    return proc.admin_url.removeprefix("http://")


async def test_queue_cli_lists_shows_retries_and_drops(
    tmp_path: Path, redis_url: str, http: aiohttp.ClientSession
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs):
        proc = procs[0]
        token = await fz.token(http)
        await set_mode(http, proc, "force_open")
        good = assert_accepted(await put_account(http, proc, token, "A00000001", 1))
        reply = await request(
            http,
            "PUT",
            proc.url + "/v1/accounts/A00000002",
            json={"billCycleDay": 99},
            headers=bearer(token),
        )
        bad = assert_accepted(reply)

        listed = await cli("ls", listen=listen_of(proc))
        assert listed.code == 0, listed.err
        header, *rows = listed.out.splitlines()
        assert header.split()[:3] == ["ID", "STATE", "ROUTE"]
        assert sorted(r.split()[0] for r in rows) == sorted([good, bad])
        assert all(r.split()[1] == "queued" for r in rows)
        assert token not in listed.out

        await set_mode(http, proc, "auto")
        await eventually(lambda: drained(http, proc))
        dead = await cli("ls", "--state", "dead", "--admin-url", proc.admin_url)
        assert dead.code == 0, dead.err
        assert [r.split()[0] for r in dead.out.splitlines()[1:]] == [bad]
        assert "upstream_400" in dead.out

        shown = await cli("show", bad, listen=listen_of(proc))
        assert shown.code == 0, shown.err
        view = json.loads(shown.out)
        assert view["writeId"] == bad
        assert view["state"] == "dead"
        assert token not in shown.out

        refused = await cli("retry", good, listen=listen_of(proc))
        assert refused.code == 1  # applied writes cannot be retried
        assert len(refused.err.strip().splitlines()) == 1
        assert (await cli("retry", bad, listen=listen_of(proc))).code == 0
        await eventually(lambda: drained(http, proc))  # refused by Zuora again: dead
        assert (await cli("drop", bad, listen=listen_of(proc))).code == 0
        gone = await cli("show", bad, listen=listen_of(proc))
        assert gone.code == 1
        assert "no write" in gone.err
        assert (await cli("drop", bad, listen=listen_of(proc))).code == 1
        empty = await cli("ls", "--state", "dead", listen=listen_of(proc))
        assert empty.code == 0
        assert bad not in empty.out

        wrong = await cli("ls", token="not-the-token", listen=listen_of(proc))
        assert wrong.code == 2
        assert "ZPROXY_ADMIN_TOKEN" in wrong.err


async def test_queue_cli_usage_and_connection_errors_exit_2() -> None:
    nobody = f"127.0.0.1:{free_port()}"
    for args, token in (
        (("show",), ADMIN_TOKEN),
        (("ls", "some-id"), ADMIN_TOKEN),
        (("ls",), None),
        (("ls", "--admin-url", "ftp://x"), ADMIN_TOKEN),
        (("ls",), ADMIN_TOKEN),
    ):
        run = await cli(*args, token=token, listen=nobody)
        assert run.code == 2, (args, run)
        lines = run.err.strip().splitlines()
        assert len(lines) == 1, run.err
        assert lines[0].startswith("zproxy queue: ")
    unreachable = await cli("ls", listen=nobody)
    assert "cannot reach the admin API" in unreachable.err
