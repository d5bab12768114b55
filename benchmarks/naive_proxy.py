"""The naive caching proxy zproxy is measured against: aiohttp + uvloop + one Redis GET a hit.

What anyone would write in an afternoon: the key is the request URI and the whole
``Authorization`` header, an entry is the raw body under a TTL, a miss fetches from the
upstream and stores 200s. No stale serving, no coalescing, no breaker, no logs, no metrics.

    python -m benchmarks.naive_proxy --listen 127.0.0.1:8081 --upstream URL --redis URL
"""

from __future__ import annotations

import argparse
import hashlib

import aiohttp
import redis.asyncio as aioredis
import uvloop
from aiohttp import web

TTL_SECONDS = 600
_PASSED = ("Authorization", "Content-Type", "Accept", "Zuora-Version")
_KEY = web.AppKey("naive", dict)


def cache_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    digest = hashlib.sha256(f"{auth}\n{request.path_qs}".encode()).hexdigest()
    return "naive:" + digest


async def handle(request: web.Request) -> web.StreamResponse:
    state = request.app[_KEY]
    redis: aioredis.Redis = state["redis"]
    cacheable = request.method == "GET" and "Authorization" in request.headers
    key = cache_key(request) if cacheable else ""
    if cacheable:
        body = await redis.get(key)
        if body is not None:
            return web.Response(
                body=body, content_type="application/json", headers={"X-Cache": "HIT"}
            )
    session: aiohttp.ClientSession = state["session"]
    headers = {name: request.headers[name] for name in _PASSED if name in request.headers}
    data = await request.read() if request.body_exists else None
    async with session.request(
        request.method, state["upstream"] + request.path_qs, headers=headers, data=data
    ) as upstream:
        body = await upstream.read()
        status = upstream.status
        content_type = upstream.headers.get("Content-Type", "application/json")
    if cacheable and status == 200:
        await redis.set(key, body, ex=TTL_SECONDS)
    return web.Response(
        status=status, body=body, headers={"Content-Type": content_type, "X-Cache": "MISS"}
    )


def make_app(upstream: str, redis_url: str) -> web.Application:
    app = web.Application()
    state: dict[str, object] = {"upstream": upstream.rstrip("/")}
    app[_KEY] = state

    async def lifecycle(_app: web.Application):  # type: ignore[no-untyped-def]
        state["redis"] = aioredis.Redis.from_url(redis_url, max_connections=128)
        state["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256), auto_decompress=False
        )
        yield
        await state["session"].close()  # type: ignore[attr-defined]
        await state["redis"].aclose()  # type: ignore[attr-defined]

    app.cleanup_ctx.append(lifecycle)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    app = make_app(args.upstream, args.redis)
    uvloop.run(web._run_app(app, host=host, port=int(port), access_log=None, print=None))


if __name__ == "__main__":
    main()
