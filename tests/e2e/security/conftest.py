"""Fixtures for the security tests: a zproxy process in front of the echo upstream (factory:
parser mode and settings per test). ``echo`` and ``http`` come from tests/e2e/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support import StartZproxy, launch
from tests.support.echo_upstream import EchoState
from zproxy.testing.proxy_process import ZproxyProcess


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
        proc = launch(
            tmp_path,
            upstream or echo[0],
            redis_url,
            name=f"zp{len(procs)}",
            overrides=overrides,
            env=env,
            pure_python=pure_python,
        )
        procs.append(proc)
        return await proc.astart()

    yield start
    for proc in procs:
        proc.kill()
