"""Helpers for the fake Zuora tests: an authenticated client (its replies are
``tests.support.http.Reply``; ``.data`` is the parsed JSON body or None) and request bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support import eventually
from tests.support.http import Reply, request
from zproxy.testing.fake_zuora import RunningFakeZuora


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
        return await request(self.session, method, self.fz.url + path, headers=all_headers, **kw)

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

        async def check() -> bool:
            return bool(predicate(await self.stats()))

        await eventually(check, timeout=5, every=0.01, what=what)


NEW_ACCOUNT = {
    "name": "Example Org",
    "currency": "USD",
    "billToContact": {"firstName": "Ada", "lastName": "Lovelace", "country": "US", "state": "CA"},
}
