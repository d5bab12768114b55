"""The floor: an aiohttp hello-world (uvloop, no access log) answering every request with the
same body. No aiohttp proxy can serve a cached answer faster than this.

    python -m benchmarks.floor --listen 127.0.0.1:8082 --body FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvloop
from aiohttp import web


def make_app(body: bytes) -> web.Application:
    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--body", required=True, type=Path)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    app = make_app(args.body.read_bytes())
    uvloop.run(web._run_app(app, host=host, port=int(port), access_log=None, print=None))


if __name__ == "__main__":
    main()
