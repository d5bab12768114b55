"""Hot reload over real HTTP and Redis: ``POST /admin/config/reload`` and ``SIGHUP`` change
behaviour in the running process (same pid) without dropping a request; an invalid config, or
one changing a restart-only setting, is refused with ``zproxy check-config``'s messages and
the running config keeps serving."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import eventually, write_config, zproxy_stack
from tests.support.fake import accounts
from tests.support.http import Caller, admin, caller, request
from tests.support.metrics import metrics
from zproxy.testing.proxy_process import ZproxyProcess

SMALL_BODY = {"server": {"max_request_body": 200}}


async def config_of(http: aiohttp.ClientSession, zp: ZproxyProcess) -> dict[str, Any]:
    reply = await admin(http, zp, "GET", "/admin/config")
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.json()
    return body


async def info(http: aiohttp.ClientSession, zp: ZproxyProcess) -> list[str]:
    """The ``zproxy_config_info`` series at 1."""
    samples = await metrics(http, zp)
    return [k for k, v in samples.items() if k.startswith("zproxy_config_info{") and v == 1]


async def steady(c: Caller, path: str, stop: asyncio.Event, statuses: list[int]) -> None:
    while not stop.is_set():
        statuses.append((await c.get(path)).status)


async def test_reload_changes_behaviour_in_the_same_process_and_drops_no_request(
    tmp_path: Path, redis_url: str
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs), aiohttp.ClientSession() as http:
        zp = procs[0]
        assert zp.proc is not None
        pid = zp.proc.pid
        c = await caller(http, fz, zp)
        big = {"Name": "x" * 400}
        account = accounts(fz)[0]
        assert (await c.put(f"/v1/accounts/{account}", big)).status == 200
        before = await config_of(http, zp)
        ready = (await request(http, "GET", zp.admin_url + "/readyz")).json()
        assert ready["config"] == {"version": before["version"], "hash": before["hash"]}

        stop, statuses = asyncio.Event(), []
        load = [
            asyncio.create_task(steady(c, f"/v1/accounts/{account}{suffix}", stop, statuses))
            for suffix in ("", "/summary", "", "/summary")
        ]
        await eventually(lambda: len(statuses) >= 40, what="traffic before the reload")
        assert zp.config is not None
        write_config(zp.config, SMALL_BODY)
        reply = await admin(http, zp, "POST", "/admin/config/reload")
        assert reply.status == 200, reply.body
        reloaded = len(statuses)
        await eventually(lambda: len(statuses) >= reloaded + 40, what="traffic after the reload")
        stop.set()
        await asyncio.gather(*load)

        assert statuses
        assert set(statuses) == {200}, sorted(set(statuses))
        after = reply.json()
        assert after["hash"] != before["hash"]
        assert after["version"] != before["version"]
        assert after["previous"] == {"version": before["version"], "hash": before["hash"]}
        assert (await c.put(f"/v1/accounts/{account}", big)).status == 413
        assert zp.proc.pid == pid
        assert zp.proc.poll() is None
        version, digest = after["version"], after["hash"]
        series = f'zproxy_config_info{{hash="{digest}",version="{version}"}}'
        assert await info(http, zp) == [series]
        ready = (await request(http, "GET", zp.admin_url + "/readyz")).json()
        assert ready["config"] == {"version": version, "hash": digest}

        # SIGHUP does the same: back to the shipped limit.
        write_config(zp.config)
        os.kill(pid, signal.SIGHUP)

        async def restored() -> bool:
            return (await c.put(f"/v1/accounts/{account}", big)).status == 200

        await eventually(restored, what="the SIGHUP reload")
        assert (await config_of(http, zp))["hash"] == before["hash"]
        assert zp.proc.pid == pid
        assert zp.proc.poll() is None


def log_events(zp: ZproxyProcess) -> list[dict[str, Any]]:
    out = []
    for line in zp.logs().splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                out.append(event)
    return out


def check_config(path: Path) -> list[str]:
    """What ``zproxy check-config`` prints about ``path``, one problem a line."""
    done = subprocess.run(
        [sys.executable, "-m", "zproxy", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done
    return [line.removeprefix("zproxy: ") for line in done.stderr.splitlines() if line]


async def test_an_invalid_config_is_refused_and_the_old_one_keeps_serving(
    tmp_path: Path, redis_url: str
) -> None:
    async with zproxy_stack(tmp_path, redis_url) as (fz, procs), aiohttp.ClientSession() as http:
        zp = procs[0]
        assert zp.config is not None
        c = await caller(http, fz, zp)
        account = accounts(fz)[0]
        before = await config_of(http, zp)

        write_config(zp.config, {"upstream": {"read_timeout": "soon"}, "cache": {"lok_ms": 1}})
        expected = check_config(zp.config)
        reply = await admin(http, zp, "POST", "/admin/config/reload")
        assert reply.status == 422, reply.body
        assert [r["message"] for r in reply.json()["reasons"]] == expected
        assert any("upstream.read_timeout" in m for m in expected)

        # A restart-only setting (the flags zproxy was started with win over the file for
        # --listen and --redis, so these come from the file alone):
        write_config(zp.config, {"server": {"workers": 3}, "redis": {"socket_timeout": 5}})
        reply = await admin(http, zp, "POST", "/admin/config/reload")
        assert reply.status == 422, reply.body
        messages = " ".join(r["message"] for r in reply.json()["reasons"])
        assert "server.workers" in messages, messages
        assert "redis.socket_timeout" in messages, messages
        assert "cannot change without a restart" in messages

        assert await config_of(http, zp) == before
        assert (await c.get(f"/v1/accounts/{account}")).status == 200
        refusals = [e for e in log_events(zp) if e.get("event") == "config_reload_refused"]
        assert len(refusals) == 2, refusals
        assert {e["level"] for e in refusals} == {"error"}
        assert refusals[0]["problems"] == expected
        assert (await admin(http, zp, "POST", "/admin/config/rollback")).status == 409
