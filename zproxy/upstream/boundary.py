"""Where aiohttp ends: its exceptions become zproxy's upstream errors (``map_errors``) and a
streamed response is handed on as an ``UpstreamStream``, so nothing above ``upstream``
touches an aiohttp type."""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Final, Literal, Protocol

import aiohttp
from multidict import CIMultiDictProxy

from zproxy.errors import (
    UpstreamBodyTooLarge,
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)

Cause = Literal["dns", "refused", "timeout", "reset", "tls", "protocol", "other"]
#: The bounded ``cause`` label of ``zproxy_upstream_errors_total`` (and the log's ``cause``).
CAUSES: Final[tuple[Cause, ...]] = (
    "dns",
    "refused",
    "timeout",
    "reset",
    "tls",
    "protocol",
    "other",
)
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


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


def cause_of(error: UpstreamError) -> Cause:
    """Why the call failed, from the foreign error ``map_errors`` kept as ``__cause__`` (or the
    upstream error itself when zproxy raised it: a truncated or oversized body)."""
    foreign = error.__cause__
    if foreign is not None:
        return _foreign_cause(foreign)
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, UpstreamProtocolError | UpstreamBodyTooLarge):
        return "protocol"
    return "other"


def _foreign_cause(exc: BaseException, depth: int = 0) -> Cause:
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return "dns"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | aiohttp.ServerFingerprintMismatch):
        return "tls"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED
    ):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | aiohttp.ServerDisconnectedError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno in _RESET_ERRNOS:
        return "reset"
    inner = exc.__cause__ or exc.__context__
    if inner is not None and depth < 3:  # a payload error caused by a reset is a reset
        found = _foreign_cause(inner, depth + 1)
        if found != "other":
            return found
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return "protocol"
    return "other"


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
