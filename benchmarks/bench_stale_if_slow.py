"""Reads while Zuora hangs (issue 12 finding 6): the latency of reads of stale entries inside
their stale-if-error window, with the fake Zuora in fault mode ``timeout`` (it takes the
request and never answers) and the shipped upstream timeouts (30 s read, 60 s total).

Without stale-if-slow such a read waits for the upstream timeout before it is served
stale-if-error (or for the breaker to open); with it (``cache.stale_if_slow``, default 2 s) the
stale entry answers at the deadline while the fetch goes on in the background.

One stack (real Redis, the fake Zuora as a subprocess, zproxy with the shipped config, the
``account`` route fresh for 1 s with an hour of stale-if-error). Every account is stored and
goes stale, then Zuora hangs and ``--requests`` reads are sent. Prints the latency figures and
the ``Cache-Status`` values seen; asserts only that every answer was a 200.

    .venv/bin/python -m benchmarks.bench_stale_if_slow [--requests N] [--concurrency C]
        [--stale-if-slow S]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import aiohttp
import yaml

from benchmarks.bench_cache import seeded_accounts
from benchmarks.harness import LoadResult, metered_stack, run_load, set_fault, token

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "zproxy.yaml"
FRESH = 1.0
Sender = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


def config(stale_if_slow: float) -> str:
    doc = yaml.safe_load(SHIPPED.read_text())
    doc["cache"]["stale_if_slow"] = stale_if_slow
    for route in doc["routes"]:
        if route["name"] == "account":
            route["read"].update(fresh=FRESH, stale_while_revalidate=0, stale_if_error=3600)
    return str(yaml.safe_dump(doc))


def reads(base: str, accounts: list[str], headers: Mapping[str, str], seen: Counter[str]) -> Sender:
    async def send(session: aiohttp.ClientSession, i: int) -> int:
        url = f"{base}/v1/accounts/{accounts[i % len(accounts)]}"
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            seen[resp.headers.get("Cache-Status", "-")] += 1
            return resp.status

    return send


async def _bench(
    fake: str, proxy: str, requests: int, concurrency: int
) -> tuple[LoadResult, Counter[str]]:
    accounts = seeded_accounts(fake)
    auth = {"Authorization": f"Bearer {token(proxy)}"}
    stored = time.time()
    warm = reads(proxy, accounts, auth, Counter())
    await run_load("store", warm, requests=len(accounts), concurrency=1)
    await asyncio.sleep(max(0.0, stored + FRESH + 0.5 - time.time()))  # every entry is stale
    set_fault(fake, {"mode": "timeout", "scope": "reads"})
    seen: Counter[str] = Counter()
    send = reads(proxy, accounts, auth, seen)
    result = await run_load(
        "reads while Zuora hangs", send, requests=requests, concurrency=concurrency
    )
    assert set(result.statuses) == {200}, result.statuses
    return result, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--stale-if-slow", type=float, default=2.0, help="0: off")
    args = parser.parse_args()
    with metered_stack(config(args.stale_if_slow)) as st:
        result, seen = asyncio.run(_bench(st.fake, st.proxy, args.requests, args.concurrency))
    lat = sorted(result.latencies)
    worst = lat[-1] * 1000
    print(
        f"GET /v1/accounts/{{key}} while Zuora hangs: {args.requests} reads, concurrency "
        f"{args.concurrency}, stale_if_slow {args.stale_if_slow} s"
    )
    print(f"{result.line()}   max {worst:.0f} ms")
    for value, count in seen.most_common():
        print(f"  {count:>5}  {value}")


if __name__ == "__main__":
    main()
