"""``Expect: 100-continue``: zproxy answers the interim ``100 Continue`` before it reads the
body (the client would otherwise wait for a timeout), then the final answer; a body over the
limit gets its 413 without the 100, and an unknown expectation is a 417."""

from __future__ import annotations

import asyncio

from tests.e2e.http_edge.conftest import Seen
from tests.support.http import raw_exchange, read_all
from zproxy.testing.proxy_process import ZproxyProcess

HEAD = (
    b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
    b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
)


async def test_100_continue_then_the_answer(edge: ZproxyProcess, seen: Seen) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    try:
        writer.write(HEAD)  # the body is held back until the 100 arrives
        await writer.drain()
        async with asyncio.timeout(10):  # a bound, not a timing assertion
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert seen.requests == []
        writer.write(b"{}")
        await writer.drain()
        final, _closed = await read_all(reader, 10)
    finally:
        writer.close()
    assert final.startswith(b"HTTP/1.1 200 "), final
    assert [r["body"] for r in seen.requests] == ["{}"]


async def test_too_large_gets_413_without_100(start_edge_small: ZproxyProcess, seen: Seen) -> None:
    raw = await raw_exchange(
        start_edge_small.port,
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n",
    )
    assert raw.status == 413, raw.data
    assert b"100 Continue" not in raw.data
    assert seen.requests == []


async def test_unknown_expectation_is_417(edge: ZproxyProcess, seen: Seen) -> None:
    raw = await raw_exchange(
        edge.port,
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
        b"Expect: 200-ok\r\nConnection: close\r\n\r\n{}",
    )
    assert raw.status == 417, raw.data
    assert seen.requests == []
