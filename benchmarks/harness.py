"""Shared pieces of the benchmarks: processes on free ports and a bounded load generator.

Benchmarks print figures; nothing here asserts on speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from zproxy.store.embedded import RedisServer, free_port
from zproxy.testing.proxy_process import ZproxyProcess

NO_ROUTES = "routes: []\n"


class CpuMeter:
    """CPU time (user + system) that processes spent, read from ``/proc/{pid}/stat``.

    On a shared machine throughput swings with everyone else's load; the CPU a process burns
    per request hardly does, so it is the figure to compare before and after a change.
    """

    _TICK = 1.0 / os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pid in self.pids.items():
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) * self._TICK  # utime, stime
        return out


@dataclass
class LoadResult:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    #: CPU microseconds per request of each metered process (zproxy, redis).
    cpu_us: dict[str, float] | None = None

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        rps = self.requests / self.seconds
        codes = ",".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        cpu = "".join(f"   {k} {v:>5.0f} µs/req" for k, v in (self.cpu_us or {}).items())
        return (
            f"{self.name:<34} {rps:>9.0f} req/s   p50 {p50:>7.2f} ms   "
            f"p99 {p99:>7.2f} ms   [{codes}]{cpu}"
        )


async def run_load(
    name: str,
    send: Callable[[aiohttp.ClientSession, int], Awaitable[int]],
    *,
    requests: int,
    concurrency: int,
    cpu: CpuMeter | None = None,
) -> LoadResult:
    """``requests`` calls of ``send`` with at most ``concurrency`` in flight (bounded);
    with ``cpu``, the metered processes' CPU time per request too."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for i in counter:
                t0 = time.perf_counter()
                status = await send(session, i)
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1

        cpu_before = cpu.seconds() if cpu else {}
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_us = (
            {k: (v - cpu_before[k]) * 1e6 / requests for k, v in cpu.seconds().items()}
            if cpu
            else None
        )
    return LoadResult(name, requests, elapsed, latencies, statuses, cpu_us)


@contextlib.contextmanager
def fake_zuora_process(seed: int = 1, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zproxy",
            "fake-zuora",
            "--listen",
            f"127.0.0.1:{port}",
            "--seed",
            str(seed),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/__fake/stats", timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass(frozen=True)
class Stack:
    fake: str
    proxy: str
    #: zproxy's and redis-server's CPU time (pass as ``run_load(..., cpu=...)``).
    cpu: CpuMeter


@contextlib.contextmanager
def stack(config_text: str | None = None, *, latency_ms: int = 0) -> Iterator[tuple[str, str]]:
    """Redis + fake Zuora + zproxy; yields (fake_url, zproxy_url)."""
    with metered_stack(config_text, latency_ms=latency_ms) as st:
        yield st.fake, st.proxy


@contextlib.contextmanager
def metered_stack(config_text: str | None = None, *, latency_ms: int = 0) -> Iterator[Stack]:
    """Redis + fake Zuora + zproxy, with a CPU meter on zproxy and redis-server."""
    with tempfile.TemporaryDirectory() as tmp, fake_zuora_process() as fake:
        redis = RedisServer(Path(tmp) / "redis", port=free_port())
        redis.start()
        config = None
        if config_text is not None:
            config = Path(tmp) / "bench.yaml"
            config.write_text(config_text)
        proxy = ZproxyProcess(
            upstream=fake,
            redis_url=redis.url,
            data_dir=Path(tmp) / "zp",
            config=config,
            env={
                "ZPROXY_LOG_FORMAT": "json",
                "ZPROXY_ADMIN_TOKEN": "bench",
                # NO_ROUTES (pure pass-through) is refused at start-up unless it is meant.
                "ZPROXY_PASS_THROUGH_ONLY": "1" if config_text == NO_ROUTES else "",
            },
        )
        try:
            proxy.start()
            if latency_ms:
                set_fault(fake, {"mode": "slow", "latency_ms": latency_ms})
            assert proxy.proc is not None
            assert redis.proc is not None
            meter = CpuMeter({"zproxy": proxy.proc.pid, "redis": redis.proc.pid})
            yield Stack(fake, proxy.url, meter)
        finally:
            proxy.terminate()
            redis.stop()


def set_fault(fake_url: str, body: dict[str, object]) -> None:
    import json

    req = urllib.request.Request(
        fake_url + "/__fake/fault",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5):
        pass


def token(base_url: str, client_id: str = "0" * 32 + "bench") -> str:
    import json
    from urllib.parse import urlencode

    data = urlencode(
        {
            "client_id": client_id[:36].ljust(36, "x"),
            "client_secret": "s",
            "grant_type": "client_credentials",
        }
    ).encode()
    req = urllib.request.Request(base_url + "/oauth/token", data=data, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(json.loads(resp.read())["access_token"])
