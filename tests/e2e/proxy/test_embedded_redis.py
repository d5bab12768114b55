"""The embedded Redis: the right binary, one server per data dir, and back after a crash."""

from __future__ import annotations

import os
import shutil
import signal
import stat
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from zproxy.store.embedded import _packaged_redis, find_redis_server
from zproxy.testing.proxy_process import ZproxyProcess

pytestmark = pytest.mark.slow


def test_a_copy_of_the_packaged_binary_on_path_does_not_win(tmp_path: Path) -> None:
    packaged = _packaged_redis()
    assert packaged is not None
    copy_dir = tmp_path / "venv-bin"
    copy_dir.mkdir()
    shutil.copy2(packaged, copy_dir / "redis-server")
    system = tmp_path / "system-bin"
    system.mkdir()
    other = system / "redis-server"
    other.write_text("#!/bin/sh\necho 'Redis server v=7.4.0 sha=00000000:0'\n")  # new enough
    other.chmod(0o755)
    assert find_redis_server(f"{copy_dir}{os.pathsep}{system}") == str(other)
    assert find_redis_server(str(copy_dir)) == str(packaged)


def _pid(data: Path) -> int:
    """The embedded redis-server's pid; 0 while its pidfile is missing or being written."""
    try:
        return int((data / "redis" / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return 0


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def _ready(proc: ZproxyProcess) -> bool:
    async with aiohttp.ClientSession() as http, http.get(proc.admin_url + "/readyz") as resp:
        return resp.status == 200


async def test_a_restart_after_kill_9_stops_the_orphaned_redis(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = ZproxyProcess(upstream="http://127.0.0.1:9", redis_url="embedded", data_dir=data)
    await first.astart()
    orphan = _pid(data)
    sock = data / "redis" / "redis.sock"
    client = aioredis.Redis.from_url(f"unix://{sock}")
    await client.set("kept", "1")
    await client.aclose()
    first.kill()  # kill -9: its redis-server is left running on the data dir
    assert _alive(orphan)
    second = ZproxyProcess(upstream="http://127.0.0.1:9", redis_url="embedded", data_dir=data)
    await second.astart()
    try:
        assert not _alive(orphan)
        assert _pid(data) != orphan
        client = aioredis.Redis.from_url(f"unix://{sock}")
        assert await client.get("kept") == b"1"
        await client.aclose()
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
    finally:
        assert await second.aterminate() == 0


async def test_embedded_redis_is_started_again_when_it_dies(tmp_path: Path) -> None:
    import asyncio

    data = tmp_path / "d"
    proc = ZproxyProcess(upstream="http://127.0.0.1:9", redis_url="embedded", data_dir=data)
    await proc.astart()
    try:
        old = _pid(data)
        os.kill(old, signal.SIGKILL)
        for _ in range(600):  # a generous bound (30 s), not a timing assertion
            if _alive(old):
                await asyncio.sleep(0.05)
                continue
            if (data / "redis" / "redis.pid").exists() and _pid(data) != old and await _ready(proc):
                break
            await asyncio.sleep(0.05)
        assert _pid(data) != old
        assert await _ready(proc)
    finally:
        assert await proc.aterminate() == 0
