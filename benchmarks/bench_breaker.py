"""How fast the read breaker opens and closes: first failure -> open, recovery -> closed.

A real zproxy process (shipped config: retries, budget, breaker defaults ``fail_max`` 5,
``reset_timeout`` 10 s, unless a row overrides them) in front of the fake Zuora (in this
process, so its answers are timestamped where they happen) and a private redis-server. An
open-loop client sends uncached GETs at ``--rate`` per second; Zuora goes ``down``, stays down
for a while after the breaker opened, and comes back. Per row it prints:

- first failure -> open: from the fake's first 503 to the breaker's ``opened_at``;
- how many 503s Zuora served and how many client requests saw an upstream failure;
- calls that reached Zuora while open (probes only);
- recovery -> closed: from lifting the fault to the probe that succeeded (the breaker closes
  when that answer is recorded).

Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_breaker [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from zproxy.store.embedded import RedisServer, free_port
from zproxy.testing.fake_zuora import RunningFakeZuora, running_fake_zuora
from zproxy.testing.fake_zuora.faults import parse_rule
from zproxy.testing.fake_zuora.stats import Stats
from zproxy.testing.proxy_process import ZproxyProcess

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"Authorization": "Bearer bench-admin"}


@dataclass(frozen=True)
class Row:
    name: str
    reset_timeout: float | None  # None: the shipped default (10 s)
    outage_after_open: float  # how long Zuora stays down once the breaker is open


ROWS = (
    Row("defaults, short outage", None, 3.0),
    Row("defaults, outage > reset_timeout", None, 12.0),
    Row("reset_timeout 1 s", 1.0, 3.0),
)


class WallStats(Stats):
    """The fake's counters plus the wall time and status of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[float, str]] = []

    def leave(self, method: str, group: str, status: str, path: str) -> None:
        self.answers.append((time.time(), status))
        super().leave(method, group, status, path)


@dataclass
class Client:
    """Open-loop traffic: one uncached GET every 1/rate s, whatever the answers."""

    http: aiohttp.ClientSession
    base: str
    token: str
    account: str
    replies: list[tuple[float, int, str]] = field(default_factory=list)  # (sent, status, code)
    _n: int = 0

    async def one(self) -> None:
        self._n += 1
        sent = time.time()
        url = f"{self.base}/v1/accounts/{self.account}?n={self._n}"
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.get(url, headers=headers) as resp:
            body = await resp.read()
        code = "zproxy" if b"ZPROXY_" in body else "zuora"
        self.replies.append((sent, resp.status, code))

    async def run(self, rate: float, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            task = asyncio.create_task(self.one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(1.0 / rate)
        await asyncio.gather(*tasks, return_exceptions=True)


def _config(path: Path, reset_timeout: float | None) -> Path:
    doc = yaml.safe_load((ROOT / "config" / "zproxy.yaml").read_text())
    if reset_timeout is not None:
        doc["breakers"]["defaults"]["reset_timeout"] = reset_timeout
    path.write_text(yaml.safe_dump(doc))
    return path


@contextlib.asynccontextmanager
async def _stack(tmp: Path, row: Row) -> AsyncIterator[tuple[RunningFakeZuora, ZproxyProcess]]:
    redis = RedisServer(tmp / "redis", port=free_port())
    redis.start()
    try:
        async with running_fake_zuora(seed=1) as fz:
            proxy = ZproxyProcess(
                upstream=fz.url,
                redis_url=redis.url,
                data_dir=tmp / "zp",
                config=_config(tmp / "zproxy.yaml", row.reset_timeout),
                env={
                    "ZPROXY_ADMIN_TOKEN": "bench-admin",
                    "ZPROXY_QUEUE_KEY": "kQ6m0uYy0dJ0m3a0X1oP8zNQ0kQ2b3Y4c5d6e7f8g9A=",
                    "ZPROXY_CACHE_SECRET": "bench-cache-secret-0123456789",
                },
            )
            await proxy.astart()
            try:
                yield fz, proxy
            finally:
                await proxy.aterminate()
    finally:
        redis.stop()


async def _reads_breaker(http: aiohttp.ClientSession, proxy: ZproxyProcess) -> dict[str, Any]:
    async with http.get(proxy.admin_url + "/admin/breaker", headers=ADMIN) as resp:
        groups: dict[str, Any] = (await resp.json())["groups"]
    return dict(groups["reads"])


async def _wait_state(
    http: aiohttp.ClientSession, proxy: ZproxyProcess, state: str, bound: float
) -> dict[str, Any]:
    deadline = time.monotonic() + bound
    while True:
        view = await _reads_breaker(http, proxy)
        if view["state"] == state or time.monotonic() > deadline:
            return view
        await asyncio.sleep(0.01)


async def _token(http: aiohttp.ClientSession, fz: RunningFakeZuora, proxy: ZproxyProcess) -> str:
    form = {
        "client_id": fz.client_id,
        "client_secret": fz.client_secret,
        "grant_type": "client_credentials",
    }
    async with http.post(proxy.url + "/oauth/token", data=form) as resp:
        return str((await resp.json())["access_token"])


async def measure(row: Row, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        async with _stack(Path(tmp), row) as (fz, proxy), aiohttp.ClientSession() as http:
            account = str(fz.fake.seed_info(1)["accounts"][0])
            client = Client(http, proxy.url, await _token(http, fz, proxy), account)
            stats = WallStats()
            fz.fake.stats = stats
            stop = asyncio.Event()
            traffic = asyncio.create_task(client.run(rate, stop))
            await asyncio.sleep(1.0)  # warm: Zuora up

            fz.fake.set_fault(parse_rule({"mode": "down"}))
            view = await _wait_state(http, proxy, "open", 30)
            opened_at = float(view["opened_at"])
            await asyncio.sleep(row.outage_after_open)
            recovered = time.time()
            fz.fake.set_fault(parse_rule({"mode": "up"}))
            closed = await _wait_state(http, proxy, "closed", 60)
            await asyncio.sleep(0.5)
            stop.set()
            await traffic

    first_503 = min(at for at, status in stats.answers if status == "503")
    probe_ok = min(at for at, status in stats.answers if status == "200" and at >= recovered)
    zuora_503s_before_open = sum(
        1 for at, status in stats.answers if status == "503" and at <= opened_at
    )
    calls_while_open = sum(1 for at, _ in stats.answers if opened_at < at < recovered)
    saw_upstream_failure = sum(
        1 for sent, status, code in client.replies if status >= 500 and code == "zuora"
    )
    return {
        "row": row.name,
        "reset_timeout": row.reset_timeout or 10.0,
        "first_failure_to_open": opened_at - first_503,
        "zuora_503s_before_open": zuora_503s_before_open,
        "client_requests_failed_by_zuora": saw_upstream_failure,
        "calls_while_open": calls_while_open,
        "outage_after_open": recovered - opened_at,
        "recovery_to_closed": probe_ok - recovered,
        "closed": closed["state"] == "closed",
    }


def _print(results: list[dict[str, Any]], rate: float) -> None:
    print(f"read breaker, open-loop uncached GETs at {rate:g} req/s, fail_max 5 (shipped)")
    header = (
        f"{'row':<34} {'reset':>6} {'fail->open':>11} {'503s':>5} {'cli fail':>8} "
        f"{'open calls':>10} {'down after open':>15} {'recovery->closed':>16}"
    )
    print(header)
    for r in results:
        print(
            f"{r['row']:<34} {r['reset_timeout']:>5.0f}s"
            f" {r['first_failure_to_open'] * 1000:>8.0f} ms"
            f" {r['zuora_503s_before_open']:>5} {r['client_requests_failed_by_zuora']:>8}"
            f" {r['calls_while_open']:>10} {r['outage_after_open']:>14.2f}s"
            f" {r['recovery_to_closed']:>15.2f}s" + ("" if r["closed"] else "  (not closed!)")
        )


async def _main(rate: float) -> None:
    results = [await measure(row, rate) for row in ROWS]
    _print(results, rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20.0, help="client requests per second")
    args = parser.parse_args()
    asyncio.run(_main(args.rate))


if __name__ == "__main__":
    main()
