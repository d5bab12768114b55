"""Record real traffic through zproxy, prove the recording holds none of what was sent that is
secret or identifying, then replay it through an outage scenario and count the same requests.

A real ``zproxy serve --record FILE`` process on a real Redis in front of the fake Zuora.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.stack import launch
from zproxy.scenarios.cli import run_scenario_command
from zproxy.testing.fake_zuora import running_fake_zuora

pytestmark = pytest.mark.slow

CLIENTS = ("0f0e7c1a-5a1b-4c55-9d7e-1c2b3a4d5e6f", "7b6a5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d")
CLIENT_SECRET = "rec-client-secret-Zq8yW3"
NOTE = "private note 4111111111111111 Zq8yW3"

SCENARIO = """\
name: recorded-replay
description: Replays a recording, time-compressed 0.5x, with Zuora down in the middle.
seed: 4
time_scale: 2
traffic: {recording: traffic.jsonl, timeout: 5}
phases:
  - {name: steady, duration: 1.5}
  - {name: outage, duration: 1.5, fault: {mode: down}}
  - {name: recovery, duration: 6}
drain_timeout: 15
zproxy:
  settings:
    upstream: {connect_timeout: 1, read_timeout: 2, total_timeout: 3}
    retry: {deadline: 0.5, max_attempts: 2, base_delay: 0.05, max_delay: 0.1}
    breakers: {defaults: {reset_timeout: 0.5, fail_max: 3}}
invariants:
  - no_lost_writes
  - no_duplicate_writes
  - per_account_order
"""


async def _send(
    session: aiohttp.ClientSession, base: str, sent: list[str], method: str, path: str, **kw: Any
) -> int:
    async with session.request(method, base + path, **kw) as resp:
        await resp.read()
        sent.append(f"{method} {path}")
        return resp.status


async def _traffic(base: str, accounts: list[str]) -> tuple[list[str], set[str]]:
    """Requests as CustomersDot sends them, paced over ~3 s; what was sent, and every value
    that must not appear in the recording."""
    sent: list[str] = []
    secrets: set[str] = {CLIENT_SECRET, "Zq8yW3", "4111111111111111", *CLIENTS}
    async with aiohttp.ClientSession() as session:
        tokens = []
        for client in CLIENTS:
            form = {
                "client_id": client,
                "client_secret": CLIENT_SECRET,
                "grant_type": "client_credentials",
            }
            async with session.post(base + "/oauth/token", data=form) as resp:
                assert resp.status == 200
                tokens.append((await resp.json())["access_token"])
                sent.append("POST /oauth/token")
        secrets.update(tokens)
        for n in range(24):
            account = accounts[n % 4]
            secrets.add(account)
            auth = {"Authorization": f"Bearer {tokens[n % 2]}"}
            kind = n % 6
            if kind == 0:
                status = await _send(
                    session, base, sent, "GET", f"/v1/accounts/{account}", headers=auth
                )
            elif kind == 1:
                path = f"/v1/accounts/{account}/summary?pageSize=40&cursor=Zq8yW3cursor"
                secrets.add("Zq8yW3cursor")
                status = await _send(session, base, sent, "GET", path, headers=auth)
            elif kind == 2:
                status = await _send(
                    session,
                    base,
                    sent,
                    "GET",
                    f"/v1/subscriptions/accounts/{account}",
                    headers=auth,
                )
            elif kind == 3:
                body = {"notes": NOTE}
                status = await _send(
                    session, base, sent, "PUT", f"/v1/accounts/{account}", headers=auth, json=body
                )
            elif kind == 4:
                query = f"select Id from Account where AccountNumber = '{account}'"
                status = await _send(
                    session,
                    base,
                    sent,
                    "POST",
                    "/v1/action/query",
                    headers=auth,
                    json={"queryString": query},
                )
            else:
                status = await _send(
                    session, base, sent, "GET", "/v1/catalog/products", headers=auth
                )
            assert status == 200, (n, status)
            await asyncio.sleep(0.1)
    return sent, secrets


async def _record(tmp_path: Path, redis_url: str, path: Path) -> tuple[list[str], set[str]]:
    """``zproxy serve --record FILE`` in front of the fake; SIGTERM flushes the recording."""
    async with running_fake_zuora(seed=9) as fz:
        accounts = [str(a) for a in fz.fake.seed_info(1)["accounts"]][:4]
        proc = launch(tmp_path, fz.url, redis_url)
        proc.args = ("--record", str(path))
        await proc.astart()
        try:
            sent, secrets = await _traffic(proc.url, accounts)
            assert await proc.aterminate() == 0
        finally:
            proc.kill()
    return sent, secrets


async def test_recorded_traffic_holds_no_secret_and_replays_the_same_requests(
    tmp_path: Path, redis_url: str
) -> None:
    path = tmp_path / "traffic.jsonl"
    sent, secrets = await _record(tmp_path, redis_url, path)

    text = path.read_text()
    for value in secrets:
        assert value not in text, value
    header, *lines = [orjson.loads(line) for line in text.splitlines()]
    assert header["recording"] == "zproxy-recording/1"
    assert [f"{d['method']} {d['path'].split('/@')[0]}" for d in lines][:2] == [
        "POST /oauth/token",
        "POST /oauth/token",
    ]
    assert len(lines) == len(sent) == 26
    assert {d["route"] for d in lines} >= {"oauth_token", "account", "account_update"}
    assert len({d["identity"] for d in lines if d["identity"]}) == 2
    assert all(d["t"] < 4.5 for d in lines)
    writes = [d for d in lines if d["method"] == "PUT"]
    assert len(writes) == 4
    assert all(d["shape"] == {"notes": "str"} for d in writes)  # keys, not values

    scenario = tmp_path / "replay.yaml"
    scenario.write_text(SCENARIO)
    report_dir = tmp_path / "report"
    code = await asyncio.to_thread(run_scenario_command, "run", scenario, report_dir)
    report = json.loads((report_dir / "report.json").read_text())
    assert code == 0, report["invariants"]
    for run in ("zproxy", "baseline"):
        total = report["runs"][run]["total"]
        assert total["requests"] == len(lines)
        assert total["writes"]["sent"] == len(writes)
        assert sum(p["requests"] for p in report["runs"][run]["phases"]) == len(lines)
    assert report["scenario"]["traffic"]["recorded"] == str(path.resolve())
    zp = report["runs"]["zproxy"]
    assert zp["total"]["writes"]["applied"] == len(writes)
    assert zp["audit"]["lost"] == []
