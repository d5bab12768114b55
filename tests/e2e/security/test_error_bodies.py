"""zproxy's own errors tell the truth without internals (CONTRACT §2, checklist 9-11, 25):
when Zuora refuses the connection, resets it, truncates a body or hangs, the client gets
Zuora-shaped JSON with a fixed message: no traceback, exception text, address or URL (which
could carry credentials).

(An upstream URL with userinfo is not tested: aiohttp refuses to combine it with the client's
``Authorization``, a 500; settings should refuse such a URL at start-up, see the report.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support import StartZproxy
from tests.support.http import admin, request
from zproxy.store.embedded import free_port


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        case = head.split(b" ", 2)[1].rsplit(b"/", 1)[1]
        if case == b"truncated":
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
            await writer.drain()
        elif case == b"hang":
            await asyncio.sleep(30)
        # "reset": close without a word
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def failing_upstream() -> AsyncIterator[int]:
    port = free_port()
    server = await asyncio.start_server(_serve, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def _assert_clean(reply_body: bytes, where: str) -> None:
    text = reply_body.decode(errors="replace")
    for needle in ("Traceback", "Error(", "Errno", "127.0.0.1", "aiohttp", "Connect", "[Err"):
        assert needle not in text, (where, needle, text)


async def test_upstream_failures_are_answered_without_internals(
    start_zproxy: StartZproxy, failing_upstream: int, http: aiohttp.ClientSession
) -> None:
    fast = {"upstream": {"read_timeout": 0.5, "total_timeout": 1}}
    proc = await start_zproxy(upstream=f"http://127.0.0.1:{failing_upstream}", overrides=fast)
    assert (
        await admin(http, proc, "POST", "/admin/breaker", json={"mode": "force_closed"})
    ).status == 200
    auth = {"Authorization": "Bearer tok-errors-1"}
    for case, expected in (("reset", {502, 503}), ("truncated", {502, 503}), ("hang", {503, 504})):
        for path in (f"/v1/x/{case}", f"/v1/accounts/{case}"):
            reply = await request(http, "GET", proc.url + path, headers=auth)
            assert reply.status in expected, (path, reply.status)
            body = reply.json()
            assert body["success"] is False
            assert body["reasons"][0]["code"].startswith("ZPROXY_UPSTREAM")
            assert body["requestId"] == reply.headers["X-Request-Id"]
            assert reply.headers["Retry-After"].isdigit()
            _assert_clean(reply.body, path)
        write = await request(http, "POST", proc.url + f"/v1/orders/{case}", json={}, headers=auth)
        _assert_clean(write.body, "write " + case)
    assert '"unhandled_error"' not in proc.logs()


async def test_an_unreachable_upstream_is_reported_without_its_address(
    start_zproxy: StartZproxy, http: aiohttp.ClientSession
) -> None:
    proc = await start_zproxy(upstream=f"http://127.0.0.1:{free_port()}")
    for path in ("/v1/x", "/v1/accounts/A00000001"):
        reply = await request(http, "GET", proc.url + path, headers={"Authorization": "Bearer t"})
        assert reply.status == 503
        assert reply.json()["reasons"][0]["code"] == "ZPROXY_UPSTREAM_UNAVAILABLE"
        _assert_clean(reply.body, path)
    assert '"unhandled_error"' not in proc.logs()
