"""Helpers for the failure-handling end-to-end tests: a client of zproxy, the fake's counters
(with arrival times on the fake's side), the admin breaker API and metric samples."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.faults import parse_rule
from zproxy.testing.fake_zuora.stats import Stats
from zproxy.testing.proxy_process import ZproxyProcess

ADMIN = {"Authorization": "Bearer test-admin-token"}


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

    @property
    def code(self) -> str | None:
        """zproxy's (or Zuora's) first v1 reason code, if the body has one."""
        try:
            reasons = self.json().get("reasons") or [{}]
        except (orjson.JSONDecodeError, AttributeError):
            return None
        code = reasons[0].get("code")
        return None if code is None else str(code)


async def request(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    async with session.request(method, url, **kwargs) as resp:
        return Reply(resp.status, dict(resp.headers), await resp.read())


@dataclass(slots=True)
class Client:
    """A CustomersDot stand-in with one credential (fetched through zproxy)."""

    session: aiohttp.ClientSession
    base: str
    token: str

    def auth(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return await request(self.session, "GET", self.base + path, headers=self.auth(headers))

    async def send(
        self, method: str, path: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> Reply:
        return await request(
            self.session, method, self.base + path, json=body, headers=self.auth(headers)
        )

    def via(self, proxy: ZproxyProcess) -> Client:
        return Client(self.session, proxy.url, self.token)


async def client(
    session: aiohttp.ClientSession, fz: RunningFakeZuora, proxy: ZproxyProcess
) -> Client:
    form = {
        "client_id": fz.client_id,
        "client_secret": fz.client_secret,
        "grant_type": "client_credentials",
    }
    reply = await request(session, "POST", proxy.url + "/oauth/token", data=form)
    assert reply.status == 200, reply.body
    return Client(session, proxy.url, str(reply.json()["access_token"]))


# -- the fake Zuora ---------------------------------------------------------------------------


class TimedStats(Stats):
    """The fake's counters plus when each request arrived and left (``time.monotonic``, the
    clock the fake and zproxy's limiter both read on this host)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []
        self.answers: list[tuple[float, str, str, str]] = []  # (at, method, status, path)

    def enter(self) -> None:
        self.arrivals.append(time.monotonic())
        super().enter()

    def leave(self, method: str, group: str, status: str, path: str) -> None:
        self.answers.append((time.monotonic(), method, status, path))
        super().leave(method, group, status, path)


def timed_stats(fz: RunningFakeZuora) -> TimedStats:
    """Replace the fake's counters with timed ones (from now on)."""
    stats = TimedStats()
    fz.fake.stats = stats
    return stats


def set_fault(fz: RunningFakeZuora, rule: Mapping[str, Any]) -> None:
    fz.fake.set_fault(parse_rule(dict(rule)))


def total(fz: RunningFakeZuora) -> int:
    """Requests the fake has seen (answered, dropped or still in flight)."""
    stats = fz.fake.stats
    return sum(stats.requests.values()) + stats.in_flight


def path_count(fz: RunningFakeZuora, path: str) -> int:
    return int(fz.fake.stats.paths.get(path, 0))


def status_count(fz: RunningFakeZuora, status: str, method: str | None = None) -> int:
    return sum(
        n
        for (m, _, s), n in fz.fake.stats.requests.items()
        if s == status and (method is None or m == method)
    )


def accounts(fz: RunningFakeZuora) -> list[str]:
    return [str(a) for a in fz.fake.seed_info(1)["accounts"]]


# -- zproxy's admin port ----------------------------------------------------------------------


async def breakers(session: aiohttp.ClientSession, proxy: ZproxyProcess) -> dict[str, Any]:
    """``GET /admin/breaker``: the groups' snapshots by name."""
    reply = await request(session, "GET", proxy.admin_url + "/admin/breaker", headers=ADMIN)
    assert reply.status == 200, reply.body
    groups: dict[str, Any] = reply.json()["groups"]
    return groups


async def set_mode(
    session: aiohttp.ClientSession, proxy: ZproxyProcess, mode: str, group: str | None = None
) -> dict[str, Any]:
    body: dict[str, str] = {"mode": mode}
    if group is not None:
        body["group"] = group
    reply = await request(
        session, "POST", proxy.admin_url + "/admin/breaker", json=body, headers=ADMIN
    )
    assert reply.status == 200, reply.body
    groups: dict[str, Any] = reply.json()["groups"]
    return groups


async def metrics(session: aiohttp.ClientSession, proxy: ZproxyProcess) -> dict[str, float]:
    """Every sample of ``/metrics`` as ``'name{a="x",b="y"}' -> value`` (labels sorted)."""
    reply = await request(session, "GET", proxy.admin_url + "/metrics")
    assert reply.status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


async def until(
    check: Callable[[], Awaitable[bool]], *, bound: float = 10.0, every: float = 0.02
) -> bool:
    """Poll ``check`` until it holds or ``bound`` seconds pass; the last answer."""
    deadline = time.monotonic() + bound
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)
