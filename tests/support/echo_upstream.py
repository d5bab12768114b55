"""A small upstream for the foundation tests: it echoes what reached it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from zproxy.store.embedded import free_port


@dataclass
class EchoState:
    seen: list[dict[str, object]] = field(default_factory=list)
    slow_started: asyncio.Event = field(default_factory=asyncio.Event)


STATE: web.AppKey[EchoState] = web.AppKey("state", EchoState)


async def echo(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body = await request.read()
    seen = {
        "method": request.method,
        "raw_path": request.raw_path,
        "headers": [[k, v] for k, v in request.headers.items()],
        "body_len": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    state.seen.append(seen)
    tail = request.match_info.get("tail", "")
    if tail.startswith("status/"):
        return web.Response(
            status=int(tail.split("/")[1]), body=orjson.dumps(seen), content_type="application/json"
        )
    if tail == "big":
        size = int(request.query.get("size", "8000000"))
        data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
        resp = web.StreamResponse(headers={"X-Body-Sha256": hashlib.sha256(data).hexdigest()})
        resp.content_length = size
        await resp.prepare(request)
        for i in range(0, size, 65536):
            await resp.write(data[i : i + 65536])
        return resp
    if tail == "slow":
        state.slow_started.set()
        await asyncio.sleep(float(request.query.get("delay", "1")))
    if tail == "hop":
        return web.Response(
            body=b"{}",
            content_type="application/json",
            headers={
                "Connection": "X-Up-Secret",
                "X-Up-Secret": "leak",
                "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic",
                "X-End-To-End": "kept",
            },
        )
    return web.Response(
        body=orjson.dumps(seen), content_type="application/json", headers={"X-Upstream": "echo"}
    )


@asynccontextmanager
async def running_echo() -> AsyncIterator[tuple[str, EchoState]]:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    state = EchoState()
    app[STATE] = state
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()
