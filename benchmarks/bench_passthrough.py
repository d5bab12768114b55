"""Pass-through overhead: the same GETs straight to the fake Zuora and through zproxy.

zproxy runs with an empty route table here, so every request is streamed through (no cache):
what is measured is the proxy's own cost on the request path. Prints figures (throughput,
latency, and the CPU zproxy and Redis spent per request: the figure that stays comparable on a
busy machine); asserts nothing.

    .venv/bin/python -m benchmarks.bench_passthrough [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp

from benchmarks.harness import NO_ROUTES, CpuMeter, metered_stack, run_load, token


async def _bench(fake: str, proxy: str, cpu: CpuMeter, requests: int, concurrency: int) -> None:
    auth = {"Authorization": f"Bearer {token(fake)}"}

    def sender(base: str):  # type: ignore[no-untyped-def]
        async def send(session: aiohttp.ClientSession, i: int) -> int:
            url = f"{base}/v1/accounts/A{(i % 50) + 1:08d}"
            async with session.get(url, headers=auth) as resp:
                await resp.read()
                return resp.status

        return send

    for _ in range(2):  # warm-up round, then the measured one
        direct = await run_load(
            "fake Zuora direct", sender(fake), requests=requests, concurrency=concurrency
        )
        through = await run_load(
            "through zproxy (pass-through)",
            sender(proxy),
            requests=requests,
            concurrency=concurrency,
            cpu=cpu,
        )
    print(f"GET /v1/accounts/{{key}}: {requests} requests, concurrency {concurrency}")
    print(direct.line())
    print(through.line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with metered_stack(NO_ROUTES) as st:
        asyncio.run(_bench(st.fake, st.proxy, st.cpu, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
