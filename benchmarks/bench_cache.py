"""Cached reads: hits and misses through zproxy next to the fake Zuora direct, in one run.

One stack (real Redis, the fake Zuora as a subprocess, zproxy with the shipped route table).
Every run is ``GET /v1/accounts/{key}`` (the ``account`` route) with one bearer token learned
through zproxy's ``/oauth/token``:

* fake Zuora direct: the baseline (what a call costs without zproxy).
* cache hit: one warm key per account, served from Redis (one GET per request).
* cache miss, distinct keys: a new query string per request (miss, fetch, store).
* cache miss, ``Cache-Control: no-cache``: a revalidation per request (fetch, store).

Prints figures (throughput, latency, and the CPU zproxy and Redis spent per request: the figure
that stays comparable on a busy machine); asserts only that every answer was a 200 with the
expected ``Cache-Status``.

    .venv/bin/python -m benchmarks.bench_cache [--requests N] [--concurrency C] [--latency-ms L]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping

import aiohttp

from benchmarks.harness import CpuMeter, LoadResult, metered_stack, run_load, token

Sender = Callable[[aiohttp.ClientSession, int], Awaitable[int]]
ACCOUNTS = 20


def seeded_accounts(fake: str) -> list[str]:
    with urllib.request.urlopen(fake + "/__fake/seed-info", timeout=5) as resp:
        return [str(a) for a in json.loads(resp.read())["accounts"][:ACCOUNTS]]


def sender(
    base: str,
    accounts: list[str],
    headers: Mapping[str, str],
    seen: Counter[str],
    *,
    distinct: bool = False,
) -> Sender:
    """GETs of the accounts in turn; ``distinct`` adds a query string no other request of
    this sender (warm-up included) has."""
    fresh_ids = itertools.count()

    async def send(session: aiohttp.ClientSession, i: int) -> int:
        url = f"{base}/v1/accounts/{accounts[i % len(accounts)]}"
        if distinct:
            url += f"?bench={next(fresh_ids)}"
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            seen[resp.headers.get("Cache-Status", "zproxy; -").split(";")[1].strip()] += 1
            return resp.status

    return send


async def _bench(
    fake: str, proxy: str, cpu: CpuMeter, requests: int, concurrency: int
) -> list[LoadResult]:
    accounts = seeded_accounts(fake)
    auth = {"Authorization": f"Bearer {token(proxy)}"}  # learned: token -> principal
    no_cache = {**auth, "Cache-Control": "no-cache"}
    seen: dict[str, Counter[str]] = {k: Counter() for k in ("direct", "hit", "miss", "nocache")}
    runs: list[tuple[str, Sender]] = [
        ("fake Zuora direct", sender(fake, accounts, auth, seen["direct"])),
        ("zproxy cache hit", sender(proxy, accounts, auth, seen["hit"])),
        ("zproxy miss (distinct keys)", sender(proxy, accounts, auth, seen["miss"], distinct=True)),
        ("zproxy miss (no-cache)", sender(proxy, accounts, no_cache, seen["nocache"])),
    ]
    warm = sender(proxy, accounts, auth, Counter())
    await run_load("warm-up", warm, requests=len(accounts), concurrency=1)
    for name, send in runs:  # a warm-up round of each (connections, JIT-free caches), unmeasured
        await run_load(name, send, requests=min(requests, 500), concurrency=concurrency)
    for counter in seen.values():
        counter.clear()
    results = [
        await run_load(name, send, requests=requests, concurrency=concurrency, cpu=cpu)
        for name, send in runs
    ]
    _check(results, seen)
    return results


def _check(results: list[LoadResult], seen: dict[str, Counter[str]]) -> None:
    for result in results:
        assert set(result.statuses) == {200}, f"{result.name}: {result.statuses}"
    assert set(seen["hit"]) == {"hit"}, seen["hit"]
    assert set(seen["miss"]) == {"fwd=miss"}, seen["miss"]
    assert set(seen["nocache"]) == {"fwd=request"}, seen["nocache"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=0, help="added by the fake Zuora")
    args = parser.parse_args()
    with metered_stack(latency_ms=args.latency_ms) as st:
        results = asyncio.run(_bench(st.fake, st.proxy, st.cpu, args.requests, args.concurrency))
    print(
        f"GET /v1/accounts/{{key}} ({ACCOUNTS} accounts): {args.requests} requests per run, "
        f"concurrency {args.concurrency}, fake latency {args.latency_ms} ms"
    )
    for result in results:
        print(result.line())


if __name__ == "__main__":
    main()
