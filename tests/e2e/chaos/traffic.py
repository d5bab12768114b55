"""Steady mixed traffic for the chaos test: reads over several credentials in several tenants
(open loop), one sequential writer per (tenant, account) alternating queueable account PUTs
and orders (``Prefer: respond-async``), and payments, which must never be queued. Every answer
becomes a ``Sample``; every write carries a tag (``?c=...``) the fake's ledger shows."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from zproxy.testing.fake_zuora import RunningFakeZuora
from zproxy.testing.fake_zuora.samples import order_body
from zproxy.testing.proxy_process import ZproxyProcess

_ID = re.compile(rb'"([0-9a-f]{32})"')
_CODE = re.compile(rb'"code"\s*:\s*"?([A-Za-z0-9_]+)')
_WRITE_ID = re.compile(rb'"writeId"\s*:\s*"([^"]+)"')
_WHY = re.compile(
    rb'"message"\s*:\s*"Zuora is unavailable and (?:the|this) write[^(:]*[(:] ?([^")]*)'
)
_TIMEOUT = aiohttp.ClientTimeout(total=30)


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: kind (read | put | order | payment), the phase it started in, status
    (0: no answer: connection error or client timeout), seconds, and the write's tag."""

    kind: str
    phase: str
    status: int
    latency: float
    tag: str | None = None
    cache: str = ""
    code: str = ""  # the first reason code of an error answer
    write_id: str = ""  # a 202's writeId


@dataclass(frozen=True, slots=True)
class Caller:
    token: str
    tenant: int


@dataclass(slots=True)
class Tenant:
    """What a tenant's callers read and write, and every id seeded for it (for isolation)."""

    number: int
    accounts: list[str]
    subscribed: list[str]  # accounts with a seeded subscription
    subscriptions: list[str]
    invoices: list[str]
    plan: str
    ids: frozenset[bytes]


def _code(body: bytes) -> str:
    """The first reason code, and the part of its message zproxy words differently by cause."""
    found, why = _CODE.search(body), _WHY.search(body)
    code = found.group(1).decode() if found else "?"
    return f"{code} ({why.group(1).decode(errors='replace')[:40]})" if why else code


def _ids(value: Any, out: set[bytes]) -> None:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value):
        out.add(value.encode())
    elif isinstance(value, Mapping):
        for item in value.values():
            _ids(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _ids(item, out)


def tenant_view(fz: RunningFakeZuora, number: int) -> Tenant:
    state = fz.fake.tenant(number)
    info = fz.fake.seed_info(number)
    ids: set[bytes] = set()
    for table in (state.accounts, state.subscriptions, state.invoices, state.payments):
        _ids(table, ids)
    return Tenant(
        number=number,
        accounts=[str(a) for a in info["accounts"]][:20],
        subscribed=sorted({str(s["accountNumber"]) for s in state.subscriptions.values()})[:20],
        subscriptions=[str(s) for s in info["subscriptions"]][:20],
        invoices=[str(i) for i in list(state.invoices)][:20],
        plan=str(info["productRatePlans"][0]["id"]),
        ids=frozenset(ids),
    )


@dataclass(slots=True)
class Traffic:
    """The load generator; ``live`` are the processes requests go to, ``phase`` is set by the
    test's script. ``leaks`` lists reads that carried another tenant's ids."""

    session: aiohttp.ClientSession
    callers: list[Caller]
    tenants: dict[int, Tenant]
    live: list[ZproxyProcess]
    read_rate: float = 45.0
    write_pause: float = 0.6
    payment_pause: float = 0.5
    writer_accounts: int = 4
    phase: str = "warm-up"
    samples: list[Sample] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(12))
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Until ``stop()``: reads, writers and payments at once; waits for every request."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._reads())
            group.create_task(self._payments())
            for tenant in self.tenants.values():
                for account in tenant.accounts[: self.writer_accounts]:
                    group.create_task(self._writer(tenant, account))

    def stop(self) -> None:
        self._stop.set()

    # -- one request ---------------------------------------------------------------------------

    async def _send(
        self, kind: str, method: str, path: str, caller: Caller, tag: str | None = None, **kw: Any
    ) -> tuple[int, bytes]:
        proc = self.rng.choice(self.live)
        headers = {"Authorization": f"Bearer {caller.token}", **kw.pop("headers", {})}
        phase, start = self.phase, time.monotonic()
        status, body, cache = 0, b"", ""
        try:
            async with self.session.request(
                method, proc.url + path, headers=headers, timeout=_TIMEOUT, **kw
            ) as resp:
                body = await resp.read()
                status, cache = resp.status, resp.headers.get("Cache-Status", "")
        except (aiohttp.ClientError, TimeoutError):
            pass
        code = _code(body) if status >= 400 else ""
        found = _WRITE_ID.search(body) if status == 202 else None
        write_id = found.group(1).decode() if found else ""
        latency = time.monotonic() - start
        self.samples.append(Sample(kind, phase, status, latency, tag, cache, code, write_id))
        return status, body

    # -- the three kinds of traffic ----------------------------------------------------------------

    async def _reads(self) -> None:
        pending: set[asyncio.Task[None]] = set()
        while not self._stop.is_set():
            task = asyncio.create_task(self._read())
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(1 / self.read_rate)
        await asyncio.gather(*pending)

    async def _read(self) -> None:
        caller = self.rng.choice(self.callers)
        tenant = self.tenants[caller.tenant]
        kind = self.rng.randrange(4)
        if kind == 0:
            path = f"/v1/accounts/{self.rng.choice(tenant.accounts)}"
        elif kind == 1:
            path = f"/v1/subscriptions/{self.rng.choice(tenant.subscriptions)}"
        elif kind == 2:
            path = f"/v1/invoices/{self.rng.choice(tenant.invoices)}"
        else:
            path = f"/v1/subscriptions/accounts/{self.rng.choice(tenant.subscribed)}"
        status, body = await self._send("read", "GET", path, caller)
        if status == 200:
            self._check_isolation(path, tenant, body)

    def _check_isolation(self, path: str, tenant: Tenant, body: bytes) -> None:
        seen = set(_ID.findall(body))
        foreign = {
            i for t in self.tenants.values() if t is not tenant for i in seen & t.ids
        } - tenant.ids
        if foreign or not seen & tenant.ids:
            self.leaks.append(f"tenant {tenant.number} GET {path}: {len(foreign)} foreign ids")

    async def _writer(self, tenant: Tenant, account: str) -> None:
        """One account's writes, one at a time, in order: n = 0, 1, 2, ..."""
        callers = [c for c in self.callers if c.tenant == tenant.number]
        n = 0
        while not self._stop.is_set():
            caller = callers[n % len(callers)]
            tag = f"t{tenant.number}.{account}.{n}"
            if n % 3 == 2:
                headers = {"Prefer": "respond-async", "Idempotency-Key": f"chaos-{tag}"}
                body = order_body(account, tenant.plan)
                await self._send(
                    "order", "POST", f"/v1/orders?c={tag}", caller, tag, json=body, headers=headers
                )
            else:
                body = {"notes": f"chaos {tag}"}
                await self._send(
                    "put", "PUT", f"/v1/accounts/{account}?c={tag}", caller, tag, json=body
                )
            n += 1
            await asyncio.sleep(self.write_pause)

    async def _payments(self) -> None:
        n = 0
        while not self._stop.is_set():
            caller = self.rng.choice(self.callers)
            tenant = self.tenants[caller.tenant]
            tag = f"pay.{n}"
            body = {
                "accountNumber": self.rng.choice(tenant.accounts),
                "amount": 1,
                "type": "External",
            }
            headers = {"Prefer": "respond-async", "Idempotency-Key": f"chaos-{tag}"}
            await self._send(
                "payment", "POST", f"/v1/payments?c={tag}", caller, tag, json=body, headers=headers
            )
            n += 1
            await asyncio.sleep(self.payment_pause)
