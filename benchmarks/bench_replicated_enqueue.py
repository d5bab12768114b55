"""Enqueue latency of the write queue by durability level, on a Sentinel set (primary + one
replica, AOF ``appendfsync always`` on both, loopback): ``local`` (WAITAOF 1 0) against
``replicated`` (WAITAOF 1 0 + WAIT 1), sequential enqueues (the latency one 202 waits for) and
concurrent ones. Prints p50 / p95 / max in milliseconds and how many enqueues took longer than
half the durability timeout. Bounded: ``--writes`` per level (default 200).

    .venv/bin/python -m benchmarks.bench_replicated_enqueue [--writes N] [--concurrency C]

Measured (2 shared cores, valkey 8.1.8, 200 writes), p50 / p95 / max in ms:

    replicated as WAITAOF 1 1:        c=1 1007 / 1014 / 1027   c=16 25 / 70 / 443
    replicated as WAITAOF 1 0+WAIT 1: c=1    4 /   10 /   18   c=16 20 / 31 /  48
    local (WAITAOF 1 0):              c=1    2 /    8 /   13   c=16  5 / 18 /  26

WAITAOF 1 1 waits for the replica's once-a-second acknowledgement of its fsynced offset.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from zproxy.queue.crypto import Cipher
from zproxy.queue.model import QueuedWrite
from zproxy.queue.partitioned import PartitionedWriteQueue
from zproxy.queue.redis_queue import queue_redis_client
from zproxy.testing.redis_sets import SentinelSet

TIMEOUT_MS = 1500


def _write(level: str, n: int) -> QueuedWrite:
    account = f"A{n % 50:08d}"
    return QueuedWrite.create(
        method="PUT",
        path=f"/v1/accounts/{account}?n={n}",
        headers=(("Authorization", "Bearer bench"),),
        body=b'{"n": %d}' % n,
        identity="bench",
        order_key=account,
        route="accounts.update",
        accepted_at=time.time(),
        idempotency_key=f"{level}-{n}",
    )


async def _level(url: str, level: str, writes: int, concurrency: int) -> list[float]:
    client = queue_redis_client(url)
    queue = PartitionedWriteQueue(
        client,
        Cipher({"k1": Cipher.generate_key()}),
        waitaof_timeout_ms=TIMEOUT_MS,
        replicated=level == "replicated",
    )
    status = await queue.init()
    assert status.ok, status.reason
    latencies: list[float] = []
    counter = iter(range(writes))

    async def worker() -> None:
        for n in counter:
            start = time.perf_counter()
            await queue.enqueue(_write(level, n))
            latencies.append((time.perf_counter() - start) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.aclose()
    return latencies


def _line(level: str, concurrency: int, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[int(len(ms) * 0.95) - 1]
    slow = sum(1 for v in ms if v > TIMEOUT_MS / 2)
    return (
        f"{level:>10} c={concurrency:<3} n={len(ms):<4} p50 {statistics.median(ms):7.1f} ms"
        f"  p95 {p95:7.1f} ms  max {ms[-1]:7.1f} ms  > {TIMEOUT_MS // 2} ms: {slow}"
    )


async def main(writes: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, SentinelSet(Path(tmp)) as sentinels:
        server = sentinels.binaries.version
        print(f"Sentinel set on {'.'.join(map(str, server))}, durability timeout {TIMEOUT_MS} ms")
        for c in (1, concurrency):
            for level in ("local", "replicated"):
                print(_line(level, c, await _level(sentinels.url, level, writes, c)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.writes, args.concurrency))
