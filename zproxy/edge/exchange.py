"""One request at the edge: the ``Exchange`` the handler and the read, write and internal
paths share, and reading its body within the size and time limits."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from zproxy.edge.responses import SERVER
from zproxy.errors import ClientError
from zproxy.policy.headers import connection_named, request_headers
from zproxy.policy.routes import RouteMatch

#: Methods named in metric labels and logs; any other token (the pure-Python parser accepts
#: every token as a method) is ``OTHER``, so clients cannot grow label sets or plant text.
_LABELLED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


#: Methods forwarded to Zuora; any other (TRACE, WebDAV's PROPFIND, MKCOL, ...) is a 405.
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: When the request's body must have arrived, whole (``loop.time()``): set by the handler per
#: request (each request runs in its own task, so its own context), read by the body readers.
BODY_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "zproxy_body_deadline", default=None
)


def method_label(method: str) -> str:
    return method if method in _LABELLED_METHODS else "OTHER"


@dataclass(slots=True)
class Exchange:
    """What the edge knows about one request while it handles it."""

    request: web.BaseRequest
    request_id: str
    track_id: str | None
    path: str
    query: str
    match: RouteMatch | None
    started: float
    upstream_status: int | None = None
    cache: str | None = None
    #: The caller's principal (a keyed hash) when the read or write path already computed it.
    identity: str | None = None
    #: The request body when the write path read it whole (the recorder keeps its shape).
    body: bytes | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def route_name(self) -> str:
        return self.match.route.name if self.match else "unmatched"

    @property
    def path_qs(self) -> str:
        return self.path + ("?" + self.query if self.query else "")

    def forward_headers(self, *, drop_accept_encoding: bool = False) -> list[tuple[str, str]]:
        req = self.request
        # Header names with '_' are dropped (as nginx does): behind a CGI-style mapping
        # ``Transfer_Encoding`` and ``Transfer-Encoding`` are one name.
        headers = request_headers(
            ((k, v) for k, v in req.headers.items() if "_" not in k),
            drop_accept_encoding=drop_accept_encoding,
        )
        headers.append(("X-Forwarded-For", req.remote or ""))
        headers.append(
            (
                "X-Forwarded-Proto",
                "https" if req.transport and req.transport.get_extra_info("sslcontext") else "http",
            )
        )
        if not any(k.lower() == "x-request-id" for k, _ in headers):
            headers.append(("X-Request-Id", self.request_id))
        return headers

    def decorate(self, response: web.StreamResponse) -> None:
        """``X-Request-Id``, ``Zuora-Track-Id`` and the exchange's extra headers."""
        if response.prepared:
            return
        response.headers["Server"] = SERVER
        response.headers["X-Request-Id"] = self.request_id
        if self.track_id:
            response.headers["Zuora-Track-Id"] = self.track_id
        for name, value in self.extra_headers.items():
            response.headers[name] = value


def is_upgrade(request: web.BaseRequest) -> bool:
    """``Connection: Upgrade`` + ``Upgrade`` (h2c, websocket): aiohttp stops parsing the
    connection after it, so zproxy ignores the upgrade (RFC 9110 §7.8), answers in HTTP/1.1
    and closes."""
    if "Upgrade" not in request.headers:
        return False
    return "upgrade" in connection_named(request.headers.items())


def has_body(request: web.BaseRequest) -> bool:
    """Whether to read a body. An upgrade request has one only when it is framed: aiohttp
    would otherwise hand over the connection's remaining bytes, which never end."""
    if is_upgrade(request) and request.content_length is None:
        return "Transfer-Encoding" in request.headers and request.body_exists
    return request.body_exists


async def request_body_stream(
    request: web.BaseRequest, limit: int, timeout: float
) -> AsyncIterator[bytes]:
    """The request body as it arrives, bounded in size, in time between chunks (``timeout``)
    and in total time (``BODY_DEADLINE``, when the handler set one)."""
    size = 0
    deadline = BODY_DEADLINE.get()
    loop = asyncio.get_running_loop()
    while True:
        when = loop.time() + timeout
        if deadline is not None and deadline < when:
            when = deadline
        try:
            async with asyncio.timeout_at(when):
                chunk = await request.content.readany()
        except TimeoutError:
            raise ClientError(
                408, "ZPROXY_REQUEST_TIMEOUT", "The request body was too slow"
            ) from None
        if not chunk:
            return
        size += len(chunk)
        if size > limit:
            raise ClientError(
                413, "ZPROXY_REQUEST_TOO_LARGE", "The request body is larger than allowed"
            )
        yield chunk


async def read_body(request: web.BaseRequest, limit: int, timeout: float) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise ClientError(
            413, "ZPROXY_REQUEST_TOO_LARGE", "The request body is larger than allowed"
        )
    if not has_body(request):
        return b""
    parts = [chunk async for chunk in request_body_stream(request, limit, timeout)]
    return b"".join(parts)
