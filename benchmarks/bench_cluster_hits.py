"""Cache-hit throughput: one zproxy on a single Redis against one zproxy on a 3-primary Redis
Cluster (``redis+cluster://``), in one run, same machine, same load.

Each topology gets its own Redis (a ``redis-server`` on a loopback port, or a ``ClusterSet``:
three primaries, no replicas), the fake Zuora as a subprocess and a real zproxy with the
shipped route table. The ``ACCOUNTS`` account reads are warmed first, then ``--requests`` GETs
(hits only) go through ``--concurrency`` aiohttp clients. Prints req/s, latency and the CPU
zproxy and Redis (all nodes) spent per request; asserts only that every answer was a 200 hit.
Bounded: the request count, not a duration.

    .venv/bin/python -m benchmarks.bench_cluster_hits [--requests N] [--concurrency C]

Measured (2 shared cores, 4000 hits, 32 clients), req/s and zproxy CPU per hit:

    hits answered by Redis (before the hot layer): single 2390-2850, 320-350 us;
                                                   Cluster 1150-1480, 420-475 us
    hits answered by the worker's hot layer:       single 4790-5180, 117-125 us;
                                                   Cluster 2720-8190, 105-148 us
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from benchmarks.bench_cache import seeded_accounts, sender
from benchmarks.harness import CpuMeter, LoadResult, fake_zuora_process, run_load, token
from zproxy.store.embedded import RedisServer, free_port
from zproxy.testing.proxy_process import ZproxyProcess
from zproxy.testing.redis_sets import ClusterSet


@contextlib.contextmanager
def single_redis(root: Path) -> Iterator[tuple[str, list[int]]]:
    redis = RedisServer(root / "redis", port=free_port())
    redis.start()
    try:
        assert redis.proc is not None
        yield redis.url, [redis.proc.pid]
    finally:
        redis.stop()


@contextlib.contextmanager
def cluster(root: Path) -> Iterator[tuple[str, list[int]]]:
    with ClusterSet(root / "cluster") as c:
        yield c.url, [pid for pid in (n.pid for n in c.nodes) if pid is not None]


async def _hits(
    fake: str, proxy: str, cpu: CpuMeter, requests: int, concurrency: int, name: str
) -> LoadResult:
    accounts = seeded_accounts(fake)
    auth = {"Authorization": f"Bearer {token(proxy)}"}
    seen: Counter[str] = Counter()
    send = sender(proxy, accounts, auth, seen)
    await run_load("warm-up", send, requests=len(accounts), concurrency=1)
    await run_load("warm-up", send, requests=min(requests, 500), concurrency=concurrency)
    seen.clear()
    result = await run_load(name, send, requests=requests, concurrency=concurrency, cpu=cpu)
    assert set(result.statuses) == {200}, result.statuses
    assert set(seen) == {"hit"}, seen
    return result


def run(topology: str, requests: int, concurrency: int) -> LoadResult:
    backend = single_redis if topology == "single Redis" else cluster
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_zuora_process() as fake,
        backend(Path(tmp)) as (url, redis_pids),
    ):
        proxy = ZproxyProcess(
            upstream=fake,
            redis_url=url,
            data_dir=Path(tmp) / "zp",
            env={"ZPROXY_LOG_FORMAT": "json", "ZPROXY_ADMIN_TOKEN": "bench"},
        )
        try:
            proxy.start()
            assert proxy.proc is not None
            pids = {"zproxy": proxy.proc.pid}
            meter = CpuMeter({**pids, **{f"redis{i}": p for i, p in enumerate(redis_pids)}})
            name = f"cache hit, {topology}"
            result = asyncio.run(_hits(fake, proxy.url, meter, requests, concurrency, name))
        finally:
            proxy.terminate()
    if result.cpu_us:  # one figure for Redis, however many nodes
        redis_us = sum(v for k, v in result.cpu_us.items() if k.startswith("redis"))
        result.cpu_us = {"zproxy": result.cpu_us["zproxy"], "redis": redis_us}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    results = [
        run(topology, args.requests, args.concurrency)
        for topology in ("single Redis", "3-primary Cluster")
    ]
    print(f"GET /v1/accounts/{{key}}: {args.requests} hits per run, concurrency {args.concurrency}")
    for result in results:
        print(result.line())


if __name__ == "__main__":
    main()
