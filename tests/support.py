"""End-to-end helpers shared by test packages: the fake Zuora in the test's loop and real
zproxy processes in front of it, configured from the shipped config plus overrides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from zproxy.scenarios.settings import merge
from zproxy.testing.fake_zuora import RunningFakeZuora, running_fake_zuora
from zproxy.testing.proxy_process import ZproxyProcess

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = ROOT / "config" / "zproxy.yaml"
QUEUE_KEY = "kQ6m0uYy0dJ0m3a0X1oP8zNQ0kQ2b3Y4c5d6e7f8g9A="  # a test Fernet key

#: Short timeouts so outage tests finish quickly; no long sleeps anywhere.
FAST = {
    "upstream": {"connect_timeout": 1, "read_timeout": 2, "total_timeout": 3},
    "retry": {"deadline": 0.5, "max_attempts": 2, "base_delay": 0.05, "max_delay": 0.1},
}


def write_config(
    path: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    route_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """The shipped config with ``overrides`` merged in; ``route_overrides`` patches routes by
    name (e.g. ``{"account": {"read": {"fresh": 1}}}``)."""
    doc = yaml.safe_load(SHIPPED_CONFIG.read_text())
    doc = merge(doc, merge(FAST, overrides or {}))
    for route in doc["routes"]:
        patch = (route_overrides or {}).get(route["name"])
        if patch:
            route.update(merge(route, patch))
    path.write_text(yaml.safe_dump(doc))
    return path


@asynccontextmanager
async def zproxy_stack(
    tmp_path: Path,
    redis_url: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    route_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    processes: int = 1,
    fake_kwargs: Mapping[str, Any] | None = None,
) -> AsyncIterator[tuple[RunningFakeZuora, list[ZproxyProcess]]]:
    """The fake Zuora (in this event loop) and ``processes`` zproxy processes sharing one
    real Redis. Everything is stopped on exit."""
    config = write_config(tmp_path / "zproxy.yaml", overrides, route_overrides=route_overrides)
    full_env = {
        "ZPROXY_QUEUE_KEY": QUEUE_KEY,
        "ZPROXY_CACHE_SECRET": "test-cache-secret-0123456789",
    }
    full_env.update(env or {})
    async with running_fake_zuora(**dict(fake_kwargs or {})) as fz:
        procs = [
            ZproxyProcess(
                upstream=fz.url,
                redis_url=redis_url,
                data_dir=tmp_path / f"zp{i}",
                config=config,
                env=full_env,
            )
            for i in range(processes)
        ]
        try:
            for proc in procs:
                await proc.astart()
            yield fz, procs
        finally:
            for proc in procs:
                proc.kill()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, every: float = 0.1
) -> None:
    """Poll ``check`` until it is true; fail after a generous bound (no timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(every)
