"""How fast the write queue drains once Zuora is back: writes/s at 0 ms and 50 ms added latency.

Run: ``.venv/bin/python benchmarks/bench_replay.py [--writes 500] [--accounts 50]``.

For each latency: a fresh Redis (AOF, fsync always), the fake Zuora (its own process) and one
zproxy with the shipped config. The write breaker is forced open, the writes are queued (PUT
``/v1/accounts/{key}`` and, every fifth write, ``POST /v1/orders`` with
``Prefer: respond-async``, spread over the accounts, every one answered 202), the fake is made
slow, the breaker is set back to ``auto``, and the time until ``zproxy_write_queue_depth`` is 0
is measured (polled every 20 ms). Per-account order caps parallelism at
``queue.replay_concurrency`` writes in flight, so at 50 ms the ceiling is about
``replay_concurrency / 0.05`` writes/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import fake_zuora_process, set_fault, token
from zproxy.store.embedded import RedisServer, free_port
from zproxy.testing.fake_zuora.samples import order_body as _order
from zproxy.testing.proxy_process import ZproxyProcess

ADMIN_TOKEN = "bench"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _seed(fake: str) -> tuple[list[str], str]:
    with urllib.request.urlopen(fake + "/__fake/seed-info", timeout=5) as resp:
        info = json.loads(resp.read())
    return [str(a) for a in info["accounts"]], str(info["productRatePlans"][0]["id"])


async def _breaker(session: aiohttp.ClientSession, admin: str, mode: str) -> None:
    async with session.post(admin + "/admin/breaker", json={"mode": mode}, headers=ADMIN) as r:
        r.raise_for_status()


async def _depth(session: aiohttp.ClientSession, admin: str) -> float:
    async with session.get(admin + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("zproxy_write_queue_depth "):
                return float(line.split()[1])
    raise RuntimeError("no zproxy_write_queue_depth metric")


async def _until_drained(session: aiohttp.ClientSession, admin: str) -> None:
    for _ in range(30_000):  # 10 minutes at most
        if await _depth(session, admin) == 0:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("the queue did not drain")


async def _queue_writes(
    session: aiohttp.ClientSession,
    proxy: str,
    bearer: str,
    writes: int,
    accounts: list[str],
    plan: str,
) -> int:
    """Queue ``writes`` writes, accounts in parallel, each account's writes in order."""
    auth = {"Authorization": f"Bearer {bearer}"}
    accepted = 0

    async def one_account(index: int, account: str) -> None:
        nonlocal accepted
        for n in range(index, writes, len(accounts)):
            if n % 5 == 4:
                headers = {**auth, "Prefer": "respond-async", "Idempotency-Key": f"bench-{n}"}
                req = session.post(
                    f"{proxy}/v1/orders", json=_order(account, plan), headers=headers
                )
            else:
                req = session.put(
                    f"{proxy}/v1/accounts/{account}", json={"notes": f"n{n}"}, headers=auth
                )
            async with req as resp:
                await resp.read()
                accepted += resp.status == 202

    await asyncio.gather(*(one_account(i, a) for i, a in enumerate(accounts)))
    return accepted


async def measure(latency_ms: int, writes: int, n_accounts: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, fake_zuora_process() as fake:
        redis = RedisServer(Path(tmp) / "redis", port=free_port())
        redis.start()
        proxy = ZproxyProcess(
            upstream=fake,
            redis_url=redis.url,
            data_dir=Path(tmp) / "zp",
            env={"ZPROXY_LOG_FORMAT": "json", "ZPROXY_ADMIN_TOKEN": ADMIN_TOKEN},
        )
        try:
            await proxy.astart()
            accounts, plan = _seed(fake)
            bearer = token(fake)
            async with aiohttp.ClientSession() as session:
                await _breaker(session, proxy.admin_url, "force_open")
                t0 = time.perf_counter()
                accepted = await _queue_writes(
                    session, proxy.url, bearer, writes, accounts[:n_accounts], plan
                )
                enqueue_s = time.perf_counter() - t0
                if latency_ms:
                    set_fault(fake, {"mode": "slow", "latency_ms": latency_ms})
                t0 = time.perf_counter()
                await _breaker(session, proxy.admin_url, "auto")
                await _until_drained(session, proxy.admin_url)
                drain_s = time.perf_counter() - t0
        finally:
            proxy.terminate()
            redis.stop()
    return {
        "latency_ms": latency_ms,
        "accepted": accepted,
        "enqueue_per_s": accepted / enqueue_s,
        "drain_s": drain_s,
        "drain_per_s": accepted / drain_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--latency", type=int, action="append", default=None)
    args = parser.parse_args()
    print(f"replay drain: {args.writes} writes over {args.accounts} accounts (shipped config)")
    for latency in args.latency or [0, 50]:
        r = asyncio.run(measure(latency, args.writes, args.accounts))
        print(
            f"  latency {latency:>3} ms: accepted {int(r['accepted'])} "
            f"(enqueue {r['enqueue_per_s']:.0f}/s), drained in {r['drain_s']:.2f} s "
            f"-> {r['drain_per_s']:.0f} writes/s"
        )


if __name__ == "__main__":
    main()
