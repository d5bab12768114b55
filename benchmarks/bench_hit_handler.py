"""What zproxy's own code costs per cache hit: its handler, called in process on warm keys.

    .venv/bin/python -m benchmarks.bench_hit_handler [--calls N] 2>/dev/null

``benchmarks.peers`` measures hits end to end, where aiohttp's parsing, the sockets and the load
generator share two cores and the figures move by a third between runs. This one starts the
real composition (``zproxy.app.start``: Redis, hot layer, metrics, request log) against the
fake Zuora, warms 64 keys through the proxy port, then calls ``ProxyHandler`` directly with
aiohttp requests built in process (``make_mocked_request``: no socket, the response is
prepared into a writer that drops its bytes) and prints microseconds per hit, best of rounds.
It is the figure to compare before and after a change to the hit path. Run it with stderr to
/dev/null: the request lines are written there, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import make_mocked_request

from benchmarks import peers_setup
from benchmarks.harness import fake_zuora_process, token
from zproxy import app
from zproxy.config.load import load_settings
from zproxy.edge.handler import ProxyHandler
from zproxy.observability.logging import configure_logging
from zproxy.policy import sensitive
from zproxy.store.embedded import free_port
from zproxy.store.redis_runtime import redis_connection

KEYS = 64


class _NullWriter:
    """Where a mocked request's response goes: counted, then dropped."""

    def __init__(self) -> None:
        self.buffer_size = 0
        self.output_size = 0
        self.length: int | None = None

    async def write(self, data: Any) -> None:
        self.output_size += len(data)

    async def write_headers(self, status_line: str, headers: Any) -> None:
        self.output_size += len(status_line)

    def send_headers(self, *args: Any) -> None:
        pass

    async def write_eof(self, data: bytes = b"") -> None:
        self.output_size += len(data)

    def enable_compression(self, *args: Any, **kwargs: Any) -> None:
        pass

    def enable_chunking(self) -> None:
        pass

    async def drain(self) -> None:
        pass

    def set_eof(self) -> None:
        pass


async def _warm(base: str, pairs: list[tuple[str, str]]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            for path, auth in pairs:
                headers = {"Authorization": auth, "Accept": peers_setup.ACCEPT}
                async with session.get(base + path, headers=headers) as resp:
                    await resp.read()


async def measure(fake: str, tmp: Path, calls: int, rounds: int) -> list[float]:
    redis_server = peers_setup.redis_server(tmp, "redis")  # bound first: its port is taken
    port, admin = free_port(), free_port()
    while admin == port:
        admin = free_port()
    try:
        settings = load_settings(
            peers_setup.zproxy_config(tmp, "hits.yaml", fresh=3600),
            env={"ZPROXY_QUEUE_KEY": "A" * 43 + "=", "ZPROXY_ADMIN_TOKEN": "bench"},
            overrides={
                "upstream.url": fake,
                "redis.url": redis_server.url,
                "server.listen": f"127.0.0.1:{port}",
                "server.admin_listen": f"127.0.0.1:{admin}",
                "data_dir": str(tmp / "data"),
            },
        )
        configure_logging(sensitive.redact_value, "json", "info")
        async with redis_connection(settings) as (redis, url):
            async with _stage("start"):
                running = await app.start(settings, redis, url)
            try:
                base = f"http://127.0.0.1:{port}"
                async with _stage("token"):
                    auths = [f"Bearer {await asyncio.to_thread(token, base)}"]
                accounts = (tmp / "accounts").read_text().split()
                pairs = [(f"/v1/accounts/{a}?v=1", auths[0]) for a in accounts[:KEYS]]
                async with _stage("warm-up"):
                    await _warm(base, pairs)
                handler: ProxyHandler = running.live._handler
                return await _rounds(handler, pairs, calls, rounds)
            finally:
                await app.stop(running)
    finally:
        redis_server.stop()


@contextlib.asynccontextmanager
async def _stage(name: str) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(30):
            yield
    except TimeoutError:
        raise RuntimeError(f"{name} took over 30 s") from None


async def _rounds(
    handler: ProxyHandler, pairs: list[tuple[str, str]], calls: int, rounds: int
) -> list[float]:
    requests = [
        make_mocked_request(
            "GET",
            path,
            headers={"Authorization": auth, "Accept": peers_setup.ACCEPT, "Host": "zp"},
            writer=_NullWriter(),  # type: ignore[arg-type]
        )
        for path, auth in pairs
    ]
    out: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        for i in range(calls):
            response = await handler(requests[i % len(requests)])
            if response.status != 200 or "hit" not in response.headers.get("Cache-Status", ""):
                raise RuntimeError(f"not a hit: {response.status} {response.headers}")
        out.append((time.process_time() - started) / calls * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zp-hit-")))
        fake = stack.enter_context(fake_zuora_process())
        import json
        import urllib.request

        with urllib.request.urlopen(fake + "/__fake/seed-info", timeout=5) as resp:
            (tmp / "accounts").write_text(" ".join(json.loads(resp.read())["accounts"]))
        import uvloop

        per_hit = uvloop.run(measure(fake, tmp, args.calls, args.rounds))
    print(
        f"zproxy handler, cache hit in process: best {min(per_hit):.1f} us, "
        f"median {statistics.median(per_hit):.1f} us ({args.rounds} x {args.calls} calls)"
    )


if __name__ == "__main__":
    main()
