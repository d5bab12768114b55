"""A client that sends its request and then half-closes (``shutdown(SHUT_WR)``, as
``curl``/``nc -N`` and some load balancers do) gets its answer; a request whose body the
half-close cuts short is not forwarded whole (a write is never applied on a partial body)."""

from __future__ import annotations

from tests.e2e.http_edge.conftest import Seen
from tests.support.http import raw_exchange
from zproxy.testing.proxy_process import ZproxyProcess


async def test_request_then_half_close_is_answered(edge: ZproxyProcess, seen: Seen) -> None:
    raw = await raw_exchange(
        edge.port,
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
        half_close=True,
        timeout=10,
    )
    assert raw.status == 200, raw.data
    assert raw.json()["body"] == "{}"
    assert raw.closed
    assert [r["body"] for r in seen.requests] == ["{}"]


async def test_get_then_half_close_is_answered(edge: ZproxyProcess, seen: Seen) -> None:
    raw = await raw_exchange(
        edge.port, b"GET /v1/passthrough HTTP/1.1\r\nHost: a\r\n\r\n", half_close=True, timeout=10
    )
    assert raw.status == 200, raw.data
    assert seen.paths() == ["/v1/passthrough"]


async def test_half_close_mid_body_is_not_forwarded_whole(edge: ZproxyProcess, seen: Seen) -> None:
    raw = await raw_exchange(
        edge.port,
        b"POST /v1/passthrough HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{}",
        half_close=True,
        timeout=10,
    )
    assert raw.status != 200, raw.data
    assert raw.closed
    assert seen.requests == []
