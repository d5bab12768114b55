"""Fixtures of the HTTP edge tests: an upstream that records what reached it (so "never
forwarded" is checked where it matters) and a zproxy process in front of it; raw-socket helpers
live in ``wire``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.support import launch
from zproxy.testing.proxy_process import ZproxyProcess


@dataclass
class Seen:
    """Every request the recording upstream received, in order."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [str(r["path"]) for r in self.requests]


async def _record(request: web.Request) -> web.Response:
    seen: Seen = request.app[SEEN]
    body = await request.read()
    entry = {
        "method": request.method,
        "path": request.raw_path,
        "headers": [[k, v] for k, v in request.headers.items()],
        "body": body.decode("latin-1"),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    seen.requests.append(entry)
    return web.Response(body=orjson.dumps(entry), content_type="application/json")


SEEN: web.AppKey[Seen] = web.AppKey("seen", Seen)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, Seen]]:
    app = web.Application()
    app[SEEN] = Seen()
    app.router.add_route("*", "/{tail:.*}", _record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", app[SEEN]
    finally:
        await runner.cleanup()


StartEdge = Callable[..., Awaitable[ZproxyProcess]]


@pytest.fixture
async def start_edge(
    upstream: tuple[str, Seen], redis_url: str, tmp_path: Path
) -> AsyncIterator[StartEdge]:
    """``await start_edge(overrides=None)``: zproxy in front of the recording upstream."""
    procs: list[ZproxyProcess] = []

    async def start(*, overrides: Mapping[str, Any] | None = None) -> ZproxyProcess:
        proc = launch(tmp_path, upstream[0], redis_url, name=f"zp{len(procs)}", overrides=overrides)
        procs.append(proc)
        return await proc.astart()

    yield start
    for proc in procs:
        proc.kill()


@pytest.fixture
async def edge(start_edge: StartEdge) -> ZproxyProcess:
    return await start_edge()


@pytest.fixture
def seen(upstream: tuple[str, Seen]) -> Seen:
    return upstream[1]


@pytest.fixture
async def start_edge_small(start_edge: StartEdge) -> ZproxyProcess:
    """zproxy with a 1 KiB request body limit."""
    return await start_edge(overrides={"server": {"max_request_body": 1024}})
