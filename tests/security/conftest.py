"""Fixtures for the security tests: an echoing upstream in the test's loop, a zproxy process
in front of it (factory: parser mode and settings per test), one HTTP client session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import QUEUE_KEY, write_config
from tests.support.echo_upstream import EchoState, running_echo
from zproxy.testing.proxy_process import ZproxyProcess

StartZproxy = Callable[..., Awaitable[ZproxyProcess]]


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, EchoState]]:
    async with running_echo() as pair:
        yield pair


@pytest.fixture
async def start_zproxy(
    echo: tuple[str, EchoState], redis_url: str, tmp_path: Path
) -> AsyncIterator[StartZproxy]:
    """``await start_zproxy(pure_python=False, overrides=None, upstream=None, env=None)``: a
    zproxy in front of the echo upstream (or ``upstream``), stopped at the end of the test."""
    procs: list[ZproxyProcess] = []

    async def start(
        *,
        pure_python: bool = False,
        overrides: Mapping[str, Any] | None = None,
        upstream: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ZproxyProcess:
        n = len(procs)
        config = write_config(tmp_path / f"zproxy{n}.yaml", overrides)
        full_env = {
            "ZPROXY_QUEUE_KEY": QUEUE_KEY,
            "ZPROXY_CACHE_SECRET": "test-cache-secret-012345",
            **(env or {}),
        }
        if pure_python:
            full_env["AIOHTTP_NO_EXTENSIONS"] = "1"
        proc = ZproxyProcess(
            upstream=upstream or echo[0],
            redis_url=redis_url,
            data_dir=tmp_path / f"zp{n}",
            config=config,
            env=full_env,
        )
        procs.append(proc)
        return await proc.astart()

    yield start
    for proc in procs:
        proc.kill()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session
