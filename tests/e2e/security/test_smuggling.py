"""Request smuggling (reliability-security §3.4, checklist 22): every ambiguous framing gets a
400 in Zuora's JSON shape, the connection is closed, and nothing reaches Zuora. Run against
aiohttp's C parser (llhttp, what we deploy) and its pure-Python parser
(``AIOHTTP_NO_EXTENSIONS=1``), where most smuggling advisories were."""

from __future__ import annotations

import re

import pytest

from tests.support import StartZproxy
from tests.support.echo_upstream import EchoState
from tests.support.http import raw_exchange

_STATUS_LINE = re.compile(rb"(?:^|\r\n)HTTP/1\.[01] \d{3} ")
#: A complete second request hidden behind the first one's body, if a parser is fooled.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

ATTEMPTS: dict[str, bytes] = {
    "content-length and transfer-encoding": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED
    ),
    "transfer-encoding and content-length": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 40\r\n\r\n0\r\n\r\n" + SMUGGLED
    ),
    "two content-lengths": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 38\r\n\r\n"
        + SMUGGLED
    ),
    "two equal content-lengths": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "two hosts": b"GET /v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "bare CR in a header value": b"GET /v1/x HTTP/1.1\r\nHost: a\r\nX-A: a\rX-B: b\r\n\r\n",
    "bare LF ending a header": b"GET /v1/x HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n",
    "bare LF line endings": b"GET /v1/x HTTP/1.1\nHost: a\n\n",
    "obs-fold": b"GET /v1/x HTTP/1.1\r\nHost: a\r\nX-A: a\r\n Transfer-Encoding: chunked\r\n\r\n",
    "LF in a chunk extension": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2;a\nb\r\n{}\r\n0\r\n\r\n"
    ),
    "space before the colon": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n"
        b"Content-Length: 5\r\n\r\n0\r\n\r\n"
    ),
    "unknown transfer coding": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"
    ),
    "chunked not last": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
    ),
    "signed content-length": b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n{}",
    "non-ASCII digits in content-length": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa3\r\n\r\n{}"
    ),
    "hex prefix in a chunk size": (
        b"POST /v1/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0x2\r\n{}\r\n0\r\n\r\n"
    ),
    "NUL in a header value": b"GET /v1/x HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
    "no host in HTTP/1.1": b"GET /v1/x HTTP/1.1\r\n\r\n",
    # RFC 9112 6.1: faulty framing; both parsers accept it, zproxy refuses it itself.
    "transfer-encoding in HTTP/1.0": (
        b"POST /v1/x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED
    ),
}


@pytest.mark.parametrize("pure_python", [False, True], ids=["c-parser", "python-parser"])
async def test_smuggling_attempts_get_400_and_a_closed_connection_and_reach_nothing(
    start_zproxy: StartZproxy, echo: tuple[str, EchoState], pure_python: bool
) -> None:
    proc = await start_zproxy(pure_python=pure_python)
    failures: list[str] = []
    for name, attempt in ATTEMPTS.items():
        raw = await raw_exchange(proc.port, attempt)
        if raw.status != 400 or not raw.closed:
            failures.append(f"{name}: status {raw.status}, closed {raw.closed}: {raw.data[:80]!r}")
            continue
        if len(_STATUS_LINE.findall(raw.data)) != 1:
            failures.append(f"{name}: more than one response: {raw.data!r}")
        body = raw.json()
        if body["success"] is not False or not body["reasons"][0]["code"].startswith(
            "ZPROXY_BAD_REQUEST"
        ):
            failures.append(f"{name}: not a zproxy 400: {body}")
        if b"smuggled" in raw.data or b"X-A" in raw.body:
            failures.append(f"{name}: the request is quoted back: {raw.body!r}")
    assert failures == []
    assert echo[1].seen == []  # nothing reached the upstream, smuggled or not
    # The pure-Python parser is flagged at start-up (it is not what we deploy).
    assert ("aiohttp_pure_python_parser" in proc.logs()) is pure_python
    # A well-formed request on the same process still goes through.
    ok = await raw_exchange(
        proc.port, b"GET /v1/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    assert ok.status == 200
    assert [seen["raw_path"] for seen in echo[1].seen] == ["/v1/x"]


UPGRADES = {
    "h2c": (
        b"GET /v1/up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    ),
    "websocket with a body": (
        b"POST /v1/up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    ),
}


@pytest.mark.parametrize("pure_python", [False, True], ids=["c-parser", "python-parser"])
async def test_upgrades_are_ignored_answered_once_and_the_connection_closed(
    start_zproxy: StartZproxy, echo: tuple[str, EchoState], pure_python: bool
) -> None:
    """RFC 9110 7.8: zproxy ignores Upgrade (Zuora speaks HTTP/1.1) and answers at once; the
    bytes after it are not read as another request (the C parser stops parsing there, so
    the connection is closed rather than left waiting)."""
    proc = await start_zproxy(pure_python=pure_python)
    for name, attempt in UPGRADES.items():
        raw = await raw_exchange(proc.port, attempt + SMUGGLED)
        assert raw.closed, name
        assert len(_STATUS_LINE.findall(raw.data)) == 1, name
        assert raw.status == 200, name
    assert [seen["raw_path"] for seen in echo[1].seen] == ["/v1/up", "/v1/up"]
    for seen in echo[1].seen:
        headers = seen["headers"]
        assert isinstance(headers, list)
        names = {str(k).lower() for k, _ in headers}
        assert not names & {"upgrade", "http2-settings", "connection"}
    assert echo[1].seen[1]["body_len"] == 2
    if not pure_python:  # the pure-Python parser never hands CONNECT to zproxy at all
        raw = await raw_exchange(
            proc.port, b"CONNECT 127.0.0.1:6379 HTTP/1.1\r\nHost: 127.0.0.1:6379\r\n\r\n" + SMUGGLED
        )
        assert raw.status == 400
        assert raw.closed
        assert len(_STATUS_LINE.findall(raw.data)) == 1
    assert len(echo[1].seen) == 2  # no tunnel, nothing smuggled
