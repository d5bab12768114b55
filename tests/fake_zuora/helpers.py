"""Helpers for the fake Zuora tests: an authenticated client and request bodies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from zproxy.testing.fake_zuora import RunningFakeZuora


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    text: str


@dataclass
class Api:
    """Calls the fake with a bearer token; ``control`` calls go to ``/__fake/``."""

    session: aiohttp.ClientSession
    fz: RunningFakeZuora
    token: str

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> Reply:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        async with self.session.request(
            method, self.fz.url + path, headers=all_headers, **kw
        ) as resp:
            text = await resp.text()
            is_json = resp.content_type == "application/json"
            body = await resp.json() if is_json else None
            return Reply(resp.status, dict(resp.headers), body, text)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json=json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("PUT", path, json=json, **kw)

    async def control(self, method: str, path: str, json: Any = None) -> Any:
        async with self.session.request(method, f"{self.fz.url}/__fake/{path}", json=json) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def fault(self, **rule: Any) -> Any:
        return await self.control("POST", "fault", rule)

    async def stats(self) -> Any:
        return await self.control("GET", "stats")

    async def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.control("GET", "ledger"))["entries"]
        return entries

    async def wait_until(self, predicate: Any, what: str) -> None:
        """Poll ``/__fake/stats`` until ``predicate(stats)``; fails after ~5 s."""
        for _ in range(500):
            if predicate(await self.stats()):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")


NEW_ACCOUNT = {
    "name": "Example Org",
    "currency": "USD",
    "billToContact": {"firstName": "Ada", "lastName": "Lovelace", "country": "US", "state": "CA"},
}
