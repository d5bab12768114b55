"""The one pooled HTTP client toward Zuora.

Foreign errors are translated at the boundary (``boundary.map_errors``): aiohttp's exceptions
become ``UpstreamConnectError`` (the request never left), ``UpstreamTimeout`` or
``UpstreamProtocolError`` (the outcome of a write is unknown); a streamed answer is handed on as
an ``UpstreamStream``. Redirects are never followed and TLS is always verified.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from zproxy.config.model import UpstreamSettings
from zproxy.errors import UpstreamBodyTooLarge, UpstreamProtocolError
from zproxy.upstream.boundary import AiohttpStream, UpstreamStream, map_errors

Body = bytes | AsyncIterable[bytes] | None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class UpstreamClient:
    def __init__(self, settings: UpstreamSettings) -> None:
        self.settings = settings
        self.base = str(settings.url)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        ctx = ssl.create_default_context(cafile=self.settings.ca_bundle)
        total_limit = sum(self.settings.pools.values()) + 10
        connector = aiohttp.TCPConnector(
            limit=total_limit, ssl=ctx, ttl_dns_cache=60, enable_cleanup_closed=True
        )
        timeout = aiohttp.ClientTimeout(
            total=self.settings.total_timeout,
            connect=self.settings.connect_timeout,
            sock_read=self.settings.read_timeout,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            # Only what the client sent: no User-Agent, Accept or encodings of aiohttp's own.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # aiohttp silently resends GET/PUT/DELETE once when a connection drops (RFC 9112 9.3.1
        # allows it for idempotent methods). Zuora's PUTs are not all idempotent (cancel,
        # renew), and hidden resends bypass our retry budget, breaker and metrics: every
        # attempt must be ours. There is no public switch; aiohttp's TestClient does the same.
        self._session._retry_connection = False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "UpstreamClient.open() was not awaited"
        return self._session

    def url(self, raw_path_qs: str) -> URL:
        # Only the configured base plus a validated origin-form path: never the client's host.
        return URL(self.base + raw_path_qs, encoded=True)

    async def request(
        self, method: str, raw_path_qs: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> UpstreamResponse:
        """Send and read the whole response (bounded by max_body_bytes)."""
        with map_errors():
            async with self.session.request(
                method,
                self.url(raw_path_qs),
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as resp:
                data = await read_bounded(resp, self.settings.max_body_bytes)
                return UpstreamResponse(resp.status, resp.headers, data)

    async def open_stream(
        self, method: str, raw_path_qs: str, headers: list[tuple[str, str]], body: Body
    ) -> UpstreamStream:
        """Send and return once the response headers are in; the caller reads the body and
        must ``release()`` the stream."""
        with map_errors():
            resp = await self.session.request(
                method, self.url(raw_path_qs), headers=headers, data=body, allow_redirects=False
            )
        length = resp.content_length
        if length is not None and length > self.settings.max_body_bytes:
            resp.release()
            raise UpstreamBodyTooLarge("Zuora's response is larger than allowed")
        return AiohttpStream(resp)


async def read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    length = resp.content_length
    if length is not None and length > limit:
        raise UpstreamBodyTooLarge("Zuora's response is larger than allowed")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise UpstreamBodyTooLarge("Zuora's response is larger than allowed")
        chunks.append(chunk)
    if length is not None and size != length:
        raise UpstreamProtocolError("truncated response body")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


__all__ = ["UpstreamClient", "UpstreamResponse", "UpstreamStream", "map_errors", "read_bounded"]
