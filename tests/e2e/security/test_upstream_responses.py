"""Zuora's response headers cannot break the client's response (reliability-security §3.4):
values with CR, LF or NUL, folded lines, oversized or too many headers, ambiguous framing and
bytes that are not UTF-8. An upstream that speaks raw bytes serves each case; zproxy answers
with a well-formed response: the bad answer refused (502, or 503 for a cached read) or relayed
with only the headers it could read safely."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support import StartZproxy
from tests.support.http import admin
from zproxy.store.embedded import free_port

_OK_TAIL = b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
RESPONSES: dict[str, bytes] = {
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-Evil: a\rSet-Cookie: pwn=1\r\n" + _OK_TAIL,
    "nul": b"HTTP/1.1 200 OK\r\nX-Evil: a\x00Set-Cookie: pwn=1\r\n" + _OK_TAIL,
    "giant": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\n" + _OK_TAIL,
    "many": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(300)) + _OK_TAIL,
    "cl-te": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    ),
    "two-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
    "cr-in-reason": b"HTTP/1.1 200 OK\rSet-Cookie: pwn=1\r\n" + _OK_TAIL,
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Evil: a\r\n Set-Cookie: pwn=1\r\n" + _OK_TAIL,
    "not-utf8": b"HTTP/1.1 200 OK\r\nX-Latin: caf\xe9\r\nX-Fine: yes\r\n" + _OK_TAIL,
    "utf8": "HTTP/1.1 200 OK\r\nX-Utf8: caf\u00e9\r\n".encode() + _OK_TAIL,
}
#: Refused by aiohttp's C client parser (what we deploy).
REFUSED = {"bare-cr", "nul", "giant", "many", "cl-te", "two-cl", "cr-in-reason"}
#: Refused by both parsers (the pure-Python one reads two-cl and cr-in-reason leniently).
REFUSED_BY_BOTH = REFUSED - {"two-cl", "cr-in-reason"}


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        writer.write(RESPONSES[path.rsplit("/", 1)[1]])
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, KeyError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def raw_upstream() -> AsyncIterator[str]:
    port = free_port()
    server = await asyncio.start_server(_serve, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("pure_python", [False, True], ids=["c-parser", "python-parser"])
async def test_bad_upstream_headers_never_break_the_client_response(
    start_zproxy: StartZproxy, raw_upstream: str, http: aiohttp.ClientSession, pure_python: bool
) -> None:
    proc = await start_zproxy(upstream=raw_upstream, pure_python=pure_python)
    reply = await admin(http, proc, "POST", "/admin/breaker", json={"mode": "force_closed"})
    assert reply.status == 200  # every case reaches the upstream, whatever came before
    refused = REFUSED_BY_BOTH if pure_python else REFUSED
    auth = {"Authorization": "Bearer tok-upstream-1"}
    for case in RESPONSES:
        # A streamed pass-through and a cacheable read (different code paths).
        for path, refused_status in ((f"/v1/x/{case}", 502), (f"/v1/accounts/{case}", 503)):
            async with http.get(proc.url + path, headers=auth) as resp:
                body = await resp.read()
                where = f"{case} {path}"
                assert resp.headers["X-Request-Id"], where
                assert "pwn=1" not in resp.headers.getall("Set-Cookie", []), where
                for value in resp.headers.values():
                    assert not any(c in value for c in "\r\n\x00"), where
                if case in refused:
                    assert resp.status == refused_status, where
                    assert b'"success":false' in body, where
                    assert b"Evil" not in body, where
                    assert b"pwn" not in body, where
                    continue
                if case in ("two-cl", "cr-in-reason"):
                    continue  # the pure-Python parser's lenient reading (documented)
                assert resp.status == 200, where
                assert body == b"{}", where
                if case == "obs-fold":
                    assert resp.headers["X-Evil"] == "a Set-Cookie: pwn=1", where  # one value
                if case == "not-utf8" and path.startswith("/v1/x/"):
                    assert "X-Latin" not in resp.headers, where  # dropped, not mangled
                    assert resp.headers["X-Fine"] == "yes", where
                if case == "utf8" and path.startswith("/v1/x/"):
                    assert resp.headers["X-Utf8"] == "caf\u00e9", where
    assert '"unhandled_error"' not in proc.logs()
