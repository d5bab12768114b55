"""Where aiohttp ends: its exceptions become zproxy's upstream errors (``map_errors``) and a
streamed response is handed on as an ``UpstreamStream``, so nothing above ``upstream``
touches an aiohttp type."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import aiohttp
from multidict import CIMultiDictProxy

from zproxy.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)


@contextlib.contextmanager
def map_errors() -> Iterator[None]:
    """Translate aiohttp/asyncio failures into zproxy's upstream errors."""
    try:
        yield
    except UpstreamError:
        raise
    except (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError) as exc:
        raise UpstreamConnectError(type(exc).__name__) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise UpstreamTimeout("Zuora did not answer in time") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamProtocolError(type(exc).__name__) from exc


class UpstreamStream(Protocol):
    """Zuora's answer with its status line and headers in and the body still to be read.
    Reading raises only ``UpstreamError``s. The gateway releases it."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def content_length(self) -> int | None: ...

    async def read(self) -> bytes:
        """The whole body."""
        ...

    def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body in chunks of at most ``size`` bytes."""
        ...

    def release(self) -> None: ...


class AiohttpStream:
    """``UpstreamStream`` over an ``aiohttp.ClientResponse``."""

    __slots__ = ("_resp",)

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp

    @property
    def status(self) -> int:
        return self._resp.status

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._resp.headers

    @property
    def content_length(self) -> int | None:
        return self._resp.content_length

    async def read(self) -> bytes:
        with map_errors():
            return await self._resp.read()

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        with map_errors():
            async for chunk in self._resp.content.iter_chunked(size):
                yield chunk

    def release(self) -> None:
        self._resp.release()
