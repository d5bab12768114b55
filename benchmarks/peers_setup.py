"""The processes ``benchmarks.peers`` measures, on free loopback ports, and how they are warmed.

Everything started here is stopped by the ``ExitStack`` that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import redis as redis_sync

from benchmarks.harness import token
from zproxy.config.load import shipped_file
from zproxy.store.embedded import RedisServer, free_port
from zproxy.testing.proxy_process import ZproxyProcess

CREDENTIALS = 4
#: What CustomersDot sends; part of zproxy's cache key, so warm-up and wrk send the same.
ACCEPT = "application/json"
VARIANTS = 10  # query strings per account: 50 accounts x 10 x 4 credentials = 2,000 keys
_ACCOUNT_READ = re.compile(
    r"(path: /v1/accounts/\{account\}\n(?:[ \t]+\w+: .*\n)*?[ \t]+read: )"
    r"\{fresh: \d+, stale_while_revalidate: \d+,"
)


def zproxy_config(tmp: Path, name: str, fresh: int, swr: int = 3600) -> Path:
    """The shipped route table with the ``account`` route fresh for ``fresh`` seconds and
    served stale while revalidating for ``swr`` more (long: a "stale" run stays inside it
    however long the runs before it took)."""
    shipped = shipped_file("zproxy.yaml")
    assert shipped is not None
    text, n = _ACCOUNT_READ.subn(
        rf"\g<1>{{fresh: {fresh}, stale_while_revalidate: {swr},", shipped.read_text()
    )
    assert n == 1, "the account route's read policy moved: update benchmarks/peers_setup.py"
    path = tmp / name
    path.write_text(text)
    return path


def redis_server(tmp: Path, name: str) -> RedisServer:
    server = RedisServer(tmp / name, port=free_port(), appendonly=False)
    server.start()
    return server


def used_memory(url: str) -> int:
    """``used_memory`` less the client connections' buffers (``mem_clients_normal``): warming
    opens tens of pooled connections (~20 KB each, ~0.4 KB an entry over 2,000 entries) that
    are no cost of the entries stored."""
    client = redis_sync.Redis.from_url(url)
    try:
        info = client.info("memory")
        return int(info["used_memory"]) - int(info["mem_clients_normal"])
    finally:
        client.close()


def zproxy(
    tmp: Path, fake: str, redis_url: str, config: Path, name: str, *args: str
) -> ZproxyProcess:
    proc = ZproxyProcess(
        upstream=fake,
        redis_url=redis_url,
        data_dir=tmp / name,
        config=config,
        env={"ZPROXY_LOG_FORMAT": "json", "ZPROXY_ADMIN_TOKEN": "bench"},
        args=args,
    )
    return proc.start(timeout=30)


@contextlib.contextmanager
def module_server(module: str, *args: str) -> Iterator[str]:
    """``python -m benchmarks.<module> --listen 127.0.0.1:PORT *args``; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", f"benchmarks.{module}", "--listen", f"127.0.0.1:{port}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url + "/ready", timeout=0.5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


@dataclass(frozen=True)
class Keys:
    """The warm set: (path, Authorization) pairs, and one body for the floor to answer with."""

    pairs: list[tuple[str, str]]
    sample_body: bytes
    mean_body: float


def make_keys(fake: str, proxy: str) -> Keys:
    """Tokens learned through zproxy (so it knows their principals), valid at Zuora too."""
    with urllib.request.urlopen(fake + "/__fake/seed-info", timeout=5) as resp:
        accounts = [str(a) for a in json.loads(resp.read())["accounts"]]
    auths = [f"Bearer {token(proxy, f'{i:032d}peer')}" for i in range(CREDENTIALS)]
    pairs = [
        (f"/v1/accounts/{a}?v={v}", auth)
        for v in range(VARIANTS)
        for a in accounts
        for auth in auths
    ]
    bodies = asyncio.run(_get_all(fake, pairs[: len(accounts) * CREDENTIALS], 8))
    sizes = [len(b) for _s, _h, b in bodies]
    return Keys(pairs, bodies[0][2], sum(sizes) / len(sizes))


async def _get_all(
    base: str, pairs: Sequence[tuple[str, str]], concurrency: int
) -> list[tuple[int, str, bytes]]:
    """GET every pair, ``concurrency`` at a time: (status, cache header, body) in order."""
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), auto_decompress=False
    ) as session:

        async def one(path: str, auth: str) -> tuple[int, str, bytes]:
            async with (
                sem,
                session.get(base + path, headers={"Authorization": auth, "Accept": ACCEPT}) as resp,
            ):
                status = resp.headers.get("Cache-Status") or resp.headers.get("X-Cache") or ""
                return resp.status, status, await resp.read()

        return list(await asyncio.gather(*(one(p, a) for p, a in pairs)))


def warm(base: str, pairs: Sequence[tuple[str, str]], hit_word: str) -> None:
    """Fetch every key, then check a second pass is all hits (``hit_word`` in the cache
    header) and 200s: the figures below are of hits only."""
    first = asyncio.run(_get_all(base, pairs, 16))
    bad = [s for s, _h, _b in first if s != 200]
    if bad:
        raise RuntimeError(f"{base}: warm-up answered {len(bad)} non-200s ({bad[:3]})")
    second = asyncio.run(_get_all(base, pairs, 32))
    misses = [h for s, h, _b in second if s != 200 or hit_word not in h]
    if misses:
        raise RuntimeError(f"{base}: {len(misses)} keys not served from cache ({misses[:3]})")


def fake_stats_total(fake: str) -> int:
    with urllib.request.urlopen(fake + "/__fake/stats", timeout=5) as resp:
        return int(json.loads(resp.read())["total"])


def worker_pids(pid: int) -> list[int]:
    """The serving processes of a ``zproxy serve``: its children under ``--workers``."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [int(c) for c in children] or [pid]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
