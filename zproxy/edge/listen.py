"""Opening the proxy port: the low-level server over the handler, its runner and the TCP site
(TLS when a certificate and key are configured).

Part of the edge layer; ``zproxy.app`` (the composition root) calls it once the handler is
wired, and stops the runner it returns.
"""

from __future__ import annotations

import ssl

from aiohttp import web

from zproxy.config.model import Settings
from zproxy.edge.handler import ProxyHandler
from zproxy.edge.server import ProxyServer


async def open_proxy_port(
    handler: ProxyHandler, settings: Settings, *, reuse_port: bool
) -> web.BaseRunner:
    server = ProxyServer(
        handler,
        keepalive_timeout=settings.server.keepalive_timeout,
        max_line_size=8190,
        max_field_size=8190,
        max_headers=100,
    )
    runner = web.ServerRunner(server, shutdown_timeout=settings.server.shutdown_timeout)
    await runner.setup()
    ssl_ctx = None
    if settings.server.tls_cert and settings.server.tls_key:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(settings.server.tls_cert, settings.server.tls_key)
    listen = settings.server.listen
    await web.TCPSite(
        runner,
        listen.host,
        listen.port,
        ssl_context=ssl_ctx,
        reuse_port=reuse_port,
    ).start()
    return runner
