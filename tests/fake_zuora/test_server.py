"""``serve`` (what ``zproxy fake-zuora`` runs) and ``running_fake_zuora`` start and stop cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.fake_zuora.helpers import NEW_ACCOUNT, Api
from zproxy.clock import FakeClock
from zproxy.testing.fake_zuora import running_fake_zuora, serve

CLIENT = "11111111-2222-4333-8444-555555555555"


async def test_serve_runs_until_cancelled_with_a_clients_file(tmp_path: Path) -> None:
    clients = tmp_path / "clients.yaml"
    clients.write_text(f"{CLIENT}: s3cret\n")
    ready: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(
        serve("127.0.0.1", 0, seed=5, clients_file=clients, on_ready=ready.put_nowait)
    )
    url = await asyncio.wait_for(ready.get(), 10)
    async with aiohttp.ClientSession() as session:
        form = {"client_id": CLIENT, "client_secret": "s3cret", "grant_type": "client_credentials"}
        async with session.post(f"{url}/oauth/token", data=form) as resp:
            assert resp.status == 200
        form["client_secret"] = "wrong"
        async with session.post(f"{url}/oauth/token", data=form) as resp:
            assert resp.status == 401
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{url}/__fake/stats")


async def test_stopping_releases_requests_held_by_a_timeout() -> None:
    async with aiohttp.ClientSession() as session:
        async with running_fake_zuora(clock=FakeClock(), accounts=2) as fz:
            api = Api(session, fz, await fz.token(session))
            await api.fault(mode="timeout")
            hung = asyncio.create_task(api.post("/v1/accounts", NEW_ACCOUNT))
            await api.wait_until(lambda s: s["in_flight"] == 1, "the hung request")
        with pytest.raises(aiohttp.ClientError):
            await hung


async def test_same_seed_same_ids_over_http() -> None:
    ids = []
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with running_fake_zuora(seed=42, clock=FakeClock(), accounts=3) as fz:
                api = Api(session, fz, await fz.token(session))
                ids.append((await api.get("/v1/accounts/A00000003")).data["basicInfo"]["id"])
                ids.append((await api.post("/v1/accounts", NEW_ACCOUNT)).data["accountId"])
    assert ids[0] == ids[2]
    assert ids[1] == ids[3]
