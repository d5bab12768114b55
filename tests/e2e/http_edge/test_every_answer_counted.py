"""Every answer is one ``request`` event with a ``request_id`` and one
``zproxy_requests_total`` sample: answers aiohttp makes itself for requests that do not parse
included; a client that goes away mid-body is ``client_disconnected`` (info) and a 499, never
an ``unhandled_error`` 500."""

from __future__ import annotations

import asyncio
import socket
import struct

import aiohttp

from tests.e2e.http_edge.conftest import Seen
from tests.e2e.http_edge.wire import log_events, requests_total
from tests.support import eventually
from tests.support.http import raw_exchange
from zproxy.testing.proxy_process import ZproxyProcess

UNPARSABLE = [
    b"GET /v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /v1/x HTTP/1.1\r\nHost: a\r\nX-A: a\rX-B: b\r\n\r\n",
]


async def test_parser_level_400s_are_logged_and_counted(edge: ZproxyProcess) -> None:
    async with aiohttp.ClientSession() as http:
        before = (await requests_total(http, edge)).get("400", 0.0)
        ids = []
        for data in UNPARSABLE:
            raw = await raw_exchange(edge.port, data)
            assert raw.status == 400, raw.data
            rid = raw.header("X-Request-Id")
            assert rid
            assert raw.json()["requestId"] == rid
            ids.append(rid)
        after = (await requests_total(http, edge)).get("400", 0.0)
    assert after - before == len(UNPARSABLE)
    events = {e["request_id"]: e for e in log_events(edge, "request")}
    for rid in ids:
        assert events[rid]["status"] == 400


async def _abort(port: int, data: bytes, *, reset: bool) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    await asyncio.sleep(0.3)  # let zproxy start on the request before the client leaves
    sock = writer.get_extra_info("socket")
    if reset:  # RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def test_client_gone_mid_body_is_client_disconnected(edge: ZproxyProcess, seen: Seen) -> None:
    head = (
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n"
        b"X-Request-Id: gone-%d\r\n\r\n0123456789"
    )
    async with aiohttp.ClientSession() as http:
        for n, reset in enumerate((True, False)):
            await _abort(edge.port, head % n, reset=reset)

        async def both_logged() -> bool:
            gone = {e["request_id"] for e in log_events(edge, "client_disconnected")}
            return {"gone-0", "gone-1"} <= gone

        await eventually(both_logged, timeout=10)
        totals = await requests_total(http, edge)
    events = {e["request_id"]: e for e in log_events(edge, "request")}
    assert events["gone-0"]["status"] == 499
    assert events["gone-1"]["status"] == 499
    assert totals.get("499") == 2
    assert "500" not in totals
    assert "unhandled_error" not in edge.logs()
    assert [e for e in log_events(edge, "client_disconnected") if e["level"] != "info"] == []
    assert seen.requests == []  # a partial body is never a complete request upstream
