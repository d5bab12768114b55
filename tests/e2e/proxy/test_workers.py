"""``zproxy serve --workers 2``: one port, two processes, one set of metrics, clean stop."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
import pytest

from tests.support.echo_upstream import EchoState
from zproxy.testing.proxy_process import ZproxyProcess

pytestmark = pytest.mark.slow


def _total(metrics: str) -> float:
    return sum(
        float(m.group(1))
        for m in re.finditer(
            r'^zproxy_requests_total\{[^}]*route="unmatched"[^}]*\} (\S+)$', metrics, re.M
        )
    )


def _started(logs: str) -> int:
    return sum('"event":"started"' in line for line in logs.splitlines())


async def test_two_workers_share_the_port_and_the_metrics(
    echo: tuple[str, EchoState], tmp_path: Path
) -> None:
    proc = ZproxyProcess(
        upstream=echo[0], redis_url="embedded", data_dir=tmp_path / "d", args=("--workers", "2")
    )
    await proc.astart()
    try:
        # /healthz answers once the first worker is up; wait for the second one too.
        for _ in range(200):
            if _started(proc.logs()) == 2:
                break
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http:
            for _ in range(40):
                # A new connection each time, so the kernel spreads them over the workers.
                async with http.get(
                    proc.url + "/v1/unlisted", headers={"Connection": "close"}
                ) as resp:
                    assert resp.status == 200
            async with http.get(proc.admin_url + "/metrics") as resp:
                text = await resp.text()
        assert _total(text) == 40
        assert _started(proc.logs()) == 2  # neither worker died and was replaced
    finally:
        assert await proc.aterminate() == 0
    assert len(echo[1].seen) == 40
