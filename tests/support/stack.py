"""Launching zproxy for tests: real zproxy processes configured from the shipped config plus
overrides, alone (``launch``) or behind the fake Zuora in the test's loop (``zproxy_stack``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from zproxy.scenarios.settings import merge
from zproxy.testing.fake_zuora import RunningFakeZuora, running_fake_zuora
from zproxy.testing.proxy_process import ZproxyProcess

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = ROOT / "config" / "zproxy.yaml"
QUEUE_KEY = "kQ6m0uYy0dJ0m3a0X1oP8zNQ0kQ2b3Y4c5d6e7f8g9A="  # a test Fernet key
CACHE_SECRET = "test-cache-secret-0123456789"

#: ``await start_zproxy(...)``: the factory fixture of tests that launch their own processes.
StartZproxy = Callable[..., Awaitable[ZproxyProcess]]

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


def launch(
    tmp_path: Path,
    upstream: str,
    redis_url: str,
    *,
    name: str = "zp",
    config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    pure_python: bool = False,
    test_keys: bool = True,
) -> ZproxyProcess:
    """A zproxy process (not started yet) in front of ``upstream``, with data in
    ``tmp_path/name``, the test queue key and cache secret in its environment (unless
    ``test_keys`` is false) plus ``env``, and ``config`` (default: the shipped config plus FAST and
    ``overrides``, written next to it). ``pure_python`` turns off aiohttp's C parser."""
    if config is None:
        config = write_config(tmp_path / f"{name}.yaml", overrides)
    keys = {"ZPROXY_QUEUE_KEY": QUEUE_KEY, "ZPROXY_CACHE_SECRET": CACHE_SECRET} if test_keys else {}
    full_env = {**keys, **(env or {})}
    if pure_python:
        full_env["AIOHTTP_NO_EXTENSIONS"] = "1"
    return ZproxyProcess(
        upstream=upstream,
        redis_url=redis_url,
        data_dir=tmp_path / name,
        config=config,
        env=full_env,
    )


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
    async with running_fake_zuora(**dict(fake_kwargs or {})) as fz:
        procs = [
            launch(tmp_path, fz.url, redis_url, name=f"zp{i}", config=config, env=env)
            for i in range(processes)
        ]
        try:
            for proc in procs:
                await proc.astart()
            yield fz, procs
        finally:
            for proc in procs:
                proc.kill()


def restart(procs: list[ZproxyProcess], old: ZproxyProcess) -> ZproxyProcess:
    """A new zproxy on ``old``'s data dir, Redis, config and environment (new ports); added to
    ``procs`` so the stack stops it."""
    new = ZproxyProcess(
        upstream=old.upstream,
        redis_url=old.redis_url,
        data_dir=old.data_dir,
        env=old.extra_env,
        config=old.config,
    )
    procs.append(new)
    return new
