"""Helpers for the cached-read end-to-end tests: a caller that talks to zproxy like CustomersDot
(token from ``/oauth/token`` through zproxy), the fake's per-path counters, metric scraping."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.faults import parse_rule
from zproxy.testing.proxy_process import ZproxyProcess

ADMIN = {"Authorization": "Bearer test-admin-token"}
OTHER_CLIENT_ID = "7c4d5433-2222-4c36-9a01-b9719ecd059f"
_SAMPLE_RE = re.compile(r"^zproxy_cache_total\{([^}]*)\} (\S+)$")
_LABEL_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def cache(self) -> str:
        return self.headers.get("Cache-Status", "")

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class Caller:
    """A client of zproxy with one credential; ``headers`` are added to every request."""

    session: aiohttp.ClientSession
    base: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)

    def auth(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **self.headers, **(extra or {})}

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return await request(self.session, "GET", self.base + path, headers=self.auth(headers))

    async def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
        return await request(
            self.session, "POST", self.base + path, json=body, headers=self.auth(headers)
        )

    async def put(self, path: str, body: Any) -> Reply:
        return await request(self.session, "PUT", self.base + path, json=body, headers=self.auth())

    def via(self, proxy: ZproxyProcess) -> Caller:
        """The same credential against another zproxy process."""
        return Caller(self.session, proxy.url, self.token, dict(self.headers))


async def request(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    async with session.request(method, url, **kwargs) as resp:
        return Reply(resp.status, dict(resp.headers), await resp.read())


async def oauth_token(
    session: aiohttp.ClientSession, base: str, client_id: str, secret: str
) -> str:
    """A token fetched THROUGH zproxy at ``base``, so zproxy learns token -> principal."""
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    reply = await request(session, "POST", base + "/oauth/token", data=form)
    assert reply.status == 200, reply.body
    return str(reply.json()["access_token"])


async def caller(
    session: aiohttp.ClientSession,
    fz: RunningFakeZuora,
    proxy: ZproxyProcess,
    client_id: str | None = None,
) -> Caller:
    token = await oauth_token(session, proxy.url, client_id or fz.client_id, fz.client_secret)
    return Caller(session, proxy.url, token)


def path_count(fz: RunningFakeZuora, path: str) -> int:
    """How many requests the fake answered (or dropped) for ``path``."""
    return int(fz.fake.stats.paths.get(path, 0))


def set_fault(fz: RunningFakeZuora, rule: Mapping[str, Any]) -> None:
    fz.fake.set_fault(parse_rule(dict(rule)))


def accounts(fz: RunningFakeZuora) -> list[str]:
    return [str(a) for a in fz.fake.seed_info(1)["accounts"]]


async def cache_counts(
    session: aiohttp.ClientSession, proxy: ZproxyProcess
) -> dict[tuple[str, str], float]:
    """``zproxy_cache_total`` samples of one process, by (route, result)."""
    async with session.get(proxy.admin_url + "/metrics") as resp:
        text = await resp.text()
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        m = _SAMPLE_RE.match(line)
        if m:
            labels = dict(_LABEL_RE.findall(m.group(1)))
            out[(labels["route"], labels["result"])] = float(m.group(2))
    return out


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, every: float = 0.05
) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` passes (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return await check()
