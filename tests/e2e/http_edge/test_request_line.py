"""Only HTTP/1.0 and HTTP/1.1 are spoken: other versions, a missing version and request lines
with runs of spaces (which aiohttp's llhttp build takes) are a 400, the connection closed, and
nothing reaches the upstream. Spacing is checked on a connection's first request line (sent
whole or a byte at a time); versions on every request."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.http_edge.conftest import Seen
from tests.support.http import raw_exchange
from zproxy.testing.proxy_process import ZproxyProcess

LINES = {
    "HTTP/2.0": b"GET /v1/line HTTP/2.0",
    "HTTP/0.9": b"GET /v1/line HTTP/0.9",
    "HTTP/1.2": b"GET /v1/line HTTP/1.2",
    "no version": b"GET /v1/line",
    "two spaces before the target": b"GET  /v1/line HTTP/1.1",
    "two spaces before the version": b"GET /v1/line  HTTP/1.1",
}


@pytest.mark.parametrize("line", LINES.values(), ids=list(LINES))
async def test_request_line_refused(edge: ZproxyProcess, seen: Seen, line: bytes) -> None:
    raw = await raw_exchange(edge.port, line + b"\r\nHost: a\r\n\r\n")
    assert raw.status == 400, raw.data
    assert raw.data.startswith(b"HTTP/1.1 400 ") or raw.data.startswith(b"HTTP/1.0 400 ")
    assert raw.json()["success"] is False
    assert raw.closed
    assert seen.requests == []


async def test_second_request_on_a_connection_checked_too(edge: ZproxyProcess, seen: Seen) -> None:
    raw = await raw_exchange(
        edge.port,
        b"GET /v1/first HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/second HTTP/2.0\r\nHost: a\r\n\r\n",
    )
    assert raw.data.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 400 " in raw.data
    assert b"HTTP/2.0" not in raw.data
    assert seen.paths() == ["/v1/first"]


async def test_request_line_sent_a_byte_at_a_time(edge: ZproxyProcess, seen: Seen) -> None:
    for line, status in ((b"GET  /v1/slow HTTP/1.1", b"400"), (b"GET /v1/slow HTTP/1.1", b"200")):
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        try:
            for i in range(len(line)):
                writer.write(line[i : i + 1])
                await writer.drain()
            writer.write(b"\r\nHost: a\r\nConnection: close\r\n\r\n")
            async with asyncio.timeout(10):
                answer = await reader.read()
        finally:
            writer.close()
        assert answer.split(b" ")[1] == status, answer
    assert seen.paths() == ["/v1/slow"]


@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/1.1"])
async def test_http_1x_served(edge: ZproxyProcess, seen: Seen, version: bytes) -> None:
    raw = await raw_exchange(
        edge.port, b"GET /v1/ok " + version + b"\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    assert raw.status == 200, raw.data
    assert seen.paths() == ["/v1/ok"]
