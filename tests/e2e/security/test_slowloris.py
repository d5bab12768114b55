"""Slow-loris headers (reliability-security §3.5, checklist 24): ``server.keepalive_timeout`` is
the guard against a client that sends its headers a byte at a time. The connection is cut,
nothing is forwarded, and other clients are served meanwhile."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.support import StartZproxy
from tests.support.echo_upstream import EchoState

KEEPALIVE = 1.5
#: The drip would take this many seconds; the guard must cut it long before.
DRIP_BYTES = 30


async def _drip(port: int, prefix: bytes) -> tuple[bool, int, bytes]:
    """Send ``prefix`` then one header byte per second; (closed by the server, bytes dripped,
    anything received)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        writer.write(prefix)
        await writer.drain()
        for sent in range(DRIP_BYTES):
            try:
                writer.write(b"x")
                await writer.drain()
            except ConnectionError:
                return True, sent, received
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 1.0)  # the 1 s pace
            except TimeoutError:
                continue
            except ConnectionError:
                return True, sent, received
            if not chunk:
                return True, sent, received
            received += chunk
        return False, DRIP_BYTES, received
    finally:
        writer.close()


async def _steady_client(url: str, stop: asyncio.Event) -> list[int]:
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            async with session.get(url + "/v1/steady") as resp:
                await resp.read()
                statuses.append(resp.status)
            await asyncio.sleep(0.1)
    return statuses


async def test_a_client_dripping_its_headers_is_cut_off_and_others_are_served(
    start_zproxy: StartZproxy, echo: tuple[str, EchoState]
) -> None:
    proc = await start_zproxy(overrides={"server": {"keepalive_timeout": KEEPALIVE}})
    stop = asyncio.Event()
    steady = asyncio.create_task(_steady_client(proc.url, stop))
    fresh = asyncio.create_task(_drip(proc.port, b"GET /v1/slow HTTP/1.1\r\nHost: a\r\nX-Pad: "))
    # The same on a kept-alive connection, after one complete request.
    first = b"GET /v1/first HTTP/1.1\r\nHost: a\r\n\r\n"
    reused = asyncio.create_task(_drip(proc.port, first + b"GET /v1/slow HTTP/1.1\r\nX-Pad: "))
    try:
        closed, dripped, received = await fresh
        closed2, dripped2, received2 = await reused
    finally:
        stop.set()
        statuses = await steady
    assert closed, "the slow connection was never closed"
    assert dripped < DRIP_BYTES
    assert received == b""  # cut, not answered
    assert closed2, "the slow kept-alive connection was never closed"
    assert dripped2 < DRIP_BYTES
    assert received2.startswith(b"HTTP/1.1 200")  # the complete request was answered
    assert received2.count(b"HTTP/1.1 ") == 1
    # Meanwhile the steady client was served every time, and no slow request went upstream.
    assert len(statuses) >= 3
    assert set(statuses) == {200}
    paths = {seen["raw_path"] for seen in echo[1].seen}
    assert paths == {"/v1/steady", "/v1/first"}
