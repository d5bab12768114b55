"""Every answer names its server ``zproxy``: no Python or aiohttp version for a scanner, on
forwarded answers, zproxy's own errors and answers to requests that did not parse."""

from __future__ import annotations

import pytest

from tests.support.http import raw_exchange
from zproxy.testing.proxy_process import ZproxyProcess

REQUESTS = {
    "forwarded": b"GET /v1/passthrough HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "zproxy error": b"TRACE /v1/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "unparsable": b"GET /v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
}


@pytest.mark.parametrize("data", REQUESTS.values(), ids=list(REQUESTS))
async def test_server_header_is_zproxy(edge: ZproxyProcess, data: bytes) -> None:
    raw = await raw_exchange(edge.port, data)
    assert raw.status != 0, raw.data
    assert raw.header("Server") == "zproxy"
    assert b"aiohttp" not in raw.head.lower()
    assert b"python" not in raw.head.lower()
