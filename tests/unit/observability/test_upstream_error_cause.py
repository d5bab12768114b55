"""The bounded ``cause`` of an upstream failure (``zproxy_upstream_errors_total{route,cause}``
and the ``upstream_error`` log line), from the foreign error ``map_errors`` translated: a
table of aiohttp/OSError failures, and real connections that do not resolve, are refused, reset
or fail the TLS handshake."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from yarl import URL

from zproxy.config.model import UpstreamSettings
from zproxy.errors import UpstreamBodyTooLarge, UpstreamError, UpstreamProtocolError
from zproxy.upstream.boundary import CAUSES, cause_of, map_errors
from zproxy.upstream.client import UpstreamClient


def _mapped(exc: BaseException) -> UpstreamError:
    with pytest.raises(UpstreamError) as info, map_errors():
        raise exc
    return info.value


def _payload_error_from_reset() -> aiohttp.ClientPayloadError:
    try:
        try:
            raise ConnectionResetError(errno.ECONNRESET, "reset by peer")
        except ConnectionResetError as reset:
            raise aiohttp.ClientPayloadError("Response payload is not completed") from reset
    except aiohttp.ClientPayloadError as exc:
        return exc


@pytest.mark.parametrize(
    ("foreign", "cause"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "refused"),
        (aiohttp.ClientOSError(errno.ECONNREFUSED, "refused"), "refused"),
        (TimeoutError(), "timeout"),
        (aiohttp.SocketTimeoutError("read"), "timeout"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "reset"),
        (aiohttp.ClientOSError(errno.EPIPE, "broken pipe"), "reset"),
        (aiohttp.ServerDisconnectedError(), "reset"),
        (_payload_error_from_reset(), "reset"),
        (ssl.SSLCertVerificationError("certificate verify failed"), "tls"),
        (aiohttp.ClientPayloadError("bad chunk"), "protocol"),
        (OSError(errno.EHOSTUNREACH, "no route to host"), "other"),
    ],
)
def test_foreign_errors_map_to_a_bounded_cause(foreign: BaseException, cause: str) -> None:
    assert cause in CAUSES
    assert cause_of(_mapped(foreign)) == cause


@pytest.mark.parametrize(
    "error", [UpstreamProtocolError("truncated response body"), UpstreamBodyTooLarge("big")]
)
def test_our_own_refusals_of_an_answer_are_protocol(error: UpstreamError) -> None:
    assert cause_of(error) == "protocol"


@asynccontextmanager
async def _server(reply: bytes) -> AsyncIterator[int]:
    """A loopback TCP server that answers every connection with ``reply`` and closes it
    (an empty ``reply``: a reset, by closing with SO_LINGER 0)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        if reply:
            writer.write(reply)
            await writer.drain()
        else:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _cause_of_get(url: str) -> str:
    settings = UpstreamSettings(url=URL(url), connect_timeout=2, read_timeout=2, total_timeout=3)
    client = UpstreamClient(settings)
    await client.open()
    try:
        with pytest.raises(UpstreamError) as info:
            await client.request("GET", "/v1/accounts/A1", [], None)
        return cause_of(info.value)
    finally:
        await client.close()


async def test_a_host_that_does_not_resolve_is_dns() -> None:
    assert await _cause_of_get("http://nonexistent.invalid") == "dns"


async def test_a_closed_port_is_refused() -> None:
    assert await _cause_of_get(f"http://127.0.0.1:{_closed_port()}") == "refused"


async def test_a_reset_connection_is_reset() -> None:
    async with _server(b"") as port:
        assert await _cause_of_get(f"http://127.0.0.1:{port}") == "reset"


async def test_tls_to_a_plain_http_server_is_tls() -> None:
    async with _server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as port:
        assert await _cause_of_get(f"https://127.0.0.1:{port}") == "tls"


async def test_an_answer_that_is_not_http_is_protocol() -> None:
    async with _server(b"SSH-2.0-OpenSSH_9.6\r\n") as port:
        assert await _cause_of_get(f"http://127.0.0.1:{port}") == "protocol"
