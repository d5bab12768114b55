"""What is forwarded at all: only GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS (others are a
Zuora-shaped 405 with ``Allow``), only the ``chunked`` transfer coding (others are a 501), and
no header whose name has an underscore. Each is checked at the recording upstream."""

from __future__ import annotations

import pytest

from tests.e2e.http_edge.conftest import Seen
from tests.support.http import raw_exchange
from zproxy.testing.proxy_process import ZproxyProcess


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK"])
async def test_other_methods_are_405_with_allow(
    edge: ZproxyProcess, seen: Seen, method: str
) -> None:
    raw = await raw_exchange(
        edge.port,
        method.encode() + b" /v1/accounts/A1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    assert raw.status == 405, raw.data
    allow = {m.strip() for m in (raw.header("Allow") or "").split(",")}
    assert allow == {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    doc = raw.json()
    assert doc["success"] is False
    assert doc["reasons"][0]["code"] == "ZPROXY_METHOD_NOT_ALLOWED"
    assert seen.requests == []


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"deflate, chunked", b"compress, chunked"])
async def test_unsupported_transfer_codings_are_501(
    edge: ZproxyProcess, seen: Seen, coding: bytes
) -> None:
    raw = await raw_exchange(
        edge.port,
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
        + coding
        + b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    assert raw.status == 501, raw.data
    assert raw.json()["reasons"][0]["code"] == "ZPROXY_NOT_IMPLEMENTED"
    assert raw.closed
    assert seen.requests == []


async def test_chunked_alone_is_forwarded(edge: ZproxyProcess, seen: Seen) -> None:
    raw = await raw_exchange(
        edge.port,
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    assert raw.status == 200, raw.data
    assert [r["body"] for r in seen.requests] == ["{}"]


async def test_header_names_with_underscores_are_not_forwarded(
    edge: ZproxyProcess, seen: Seen
) -> None:
    raw = await raw_exchange(
        edge.port,
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
        b"Transfer_Encoding: chunked\r\nX_Tenant: other\r\nX-Kept: yes\r\n"
        b"Connection: close\r\n\r\n{}",
    )
    assert raw.status == 200, raw.data
    [received] = seen.requests
    names = [name.lower() for name, _ in received["headers"]]
    assert "x-kept" in names
    assert not [name for name in names if "_" in name]
    assert names.count("content-length") == 1
    assert received["body"] == "{}"
