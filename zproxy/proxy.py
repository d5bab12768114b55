"""The HTTP edge: request -> validation -> route -> policy -> actions -> response.

Every response carries ``X-Request-Id`` (and ``Zuora-Track-Id`` when the request had one);
zproxy's own errors are Zuora-shaped JSON with a truthful status. One structured log event and
one metrics report per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import structlog
from aiohttp import web

from zproxy.errors import ClientError, UpstreamError
from zproxy.http_common import error_response, request_id_of, track_id_of
from zproxy.policy.headers import connection_named, request_headers, response_headers
from zproxy.policy.routes import RouteMatch
from zproxy.policy.target import validate_target
from zproxy.services import Services
from zproxy.upstream.client import map_errors
from zproxy.upstream.gateway import UpstreamCall

log = structlog.get_logger("zproxy.proxy")
_CHUNK = 64 * 1024
_SMALL_BODY = 256 * 1024
#: Methods named in metric labels and logs; any other token (the pure-Python parser accepts
#: every token as a method) is ``OTHER``, so clients cannot grow label sets or plant text.
_BAD_FRAMING = "ZPROXY_BAD_REQUEST_FRAMING"
_LABELLED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def route_name(self) -> str:
        return self.match.route.name if self.match else "unmatched"

    @property
    def path_qs(self) -> str:
        return self.path + ("?" + self.query if self.query else "")

    def forward_headers(self, *, drop_accept_encoding: bool = False) -> list[tuple[str, str]]:
        req = self.request
        headers = request_headers(req.headers.items(), drop_accept_encoding=drop_accept_encoding)
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


class ProxyHandler:
    """The catch-all handler of the proxy port. ``services`` is wired by ``zproxy.app``."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.routes = services.settings.routes

    async def dispatch(self, ex: Exchange) -> web.StreamResponse:
        if ex.path.startswith("/_zproxy/"):
            # zproxy's own namespace first: no route of the table can shadow it.
            from zproxy.internal_api import handle_internal

            return await handle_internal(self, ex)
        route = ex.match.route if ex.match else None
        method = ex.request.method
        if (
            route is not None
            and route.read is not None
            and (method == "GET" or (method == "POST" and route.read.body_keyed))
        ):
            from zproxy.proxy_reads import handle_read

            return await handle_read(self, ex)
        if route is not None and route.write is not None:
            from zproxy.proxy_writes import handle_write

            return await handle_write(self, ex)
        return await stream_through(self, ex)

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        ex = Exchange(request, request_id_of(request), track_id_of(request), "", "", None, started)
        try:
            check_framing(request)
            ex.path, ex.query = validate_target(request.raw_path)
            ex.match = self.routes.match(request.method, ex.path)
            response = await self.dispatch(ex)
        except ClientError as exc:
            response = error_response(exc.status, exc.code, exc.message, ex.request_id)
            if exc.code == _BAD_FRAMING:
                response.force_close()
        except UpstreamError as exc:
            response = self.upstream_error(ex, exc)
        except web.HTTPRequestEntityTooLarge:
            response = error_response(
                413,
                "ZPROXY_REQUEST_TOO_LARGE",
                "The request body is larger than allowed",
                ex.request_id,
            )
        except asyncio.CancelledError:
            self.finish(ex, 499)
            raise
        if is_upgrade(request):
            response.force_close()
        self.decorate(ex, response)
        if not response.prepared:
            await response.prepare(request)
        self.finish(ex, response.status)
        return response

    def upstream_error(self, ex: Exchange, exc: UpstreamError) -> web.Response:
        messages = {
            503: "Zuora is unavailable",
            504: "Zuora did not answer in time",
            502: "Zuora's response could not be used",
        }
        retry_after = getattr(exc, "retry_after", None) or 5.0
        return error_response(
            exc.status,
            exc.code,
            messages.get(exc.status, "Upstream failed"),
            ex.request_id,
            headers={"Retry-After": str(max(1, int(retry_after + 0.999)))},
        )

    def decorate(self, ex: Exchange, response: web.StreamResponse) -> None:
        if response.prepared:
            return
        response.headers["X-Request-Id"] = ex.request_id
        if ex.track_id:
            response.headers["Zuora-Track-Id"] = ex.track_id
        for name, value in ex.extra_headers.items():
            response.headers[name] = value

    def finish(self, ex: Exchange, status: int) -> None:
        seconds = time.perf_counter() - ex.started
        method = method_label(ex.request.method)
        self.s.metrics.on_request(ex.route_name, method, status)
        log.info(
            "request",
            method=method,
            route=ex.route_name,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            upstream_status=ex.upstream_status,
            cache=ex.cache,
            request_id=ex.request_id,
            track_id=ex.track_id,
        )


def check_framing(request: web.BaseRequest) -> None:
    """RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing (a peer
    in front may have read it by Content-Length or to the close). Refuse it, and CONNECT
    (zproxy opens no tunnels); the connection is closed."""
    if request.version < aiohttp.HttpVersion11 and "Transfer-Encoding" in request.headers:
        raise ClientError(400, _BAD_FRAMING, "Transfer-Encoding is not allowed in HTTP/1.0")
    if request.method == "CONNECT":
        raise ClientError(400, _BAD_FRAMING, "CONNECT is not supported")


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
    """The request body as it arrives, bounded in size and in time between chunks."""
    size = 0
    while True:
        try:
            async with asyncio.timeout(timeout):
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


async def stream_through(proxy: ProxyHandler, ex: Exchange) -> web.StreamResponse:
    """Forward as-is: body streamed up, response streamed down, nothing cached."""
    services = proxy.s
    request = ex.request
    limit = services.settings.server.max_request_body
    if request.content_length is not None and request.content_length > limit:
        raise ClientError(
            413, "ZPROXY_REQUEST_TOO_LARGE", "The request body is larger than allowed"
        )
    body_errors: list[ClientError] = []
    body = (
        _recording(
            request_body_stream(request, limit, services.settings.server.body_read_timeout),
            body_errors,
        )
        if has_body(request)
        else None
    )
    route = ex.match.route if ex.match else None
    method = request.method
    group = (
        route.breaker_group(method)
        if route
        else ("reads" if method in ("GET", "HEAD", "OPTIONS") else "writes")
    )
    headers = ex.forward_headers()
    if body is not None and request.content_length is not None:
        # Keep the client's framing: a declared length is forwarded, not re-chunked.
        headers.append(("Content-Length", str(request.content_length)))
    call = UpstreamCall(
        ex.route_name, group, route.pool if route else "default", method, ex.path_qs, headers
    )
    try:
        async with services.gateway.stream(call, body) as upstream:
            if upstream.status in (401, 403):
                await services.identities.refused(request.headers)
            return await _relay(proxy, ex, upstream)
    except UpstreamError:
        # A bad request body surfaces as an upstream failure: report the client's fault.
        if body_errors:
            raise body_errors[0] from None
        raise


async def _recording(
    chunks: AsyncIterator[bytes], errors: list[ClientError]
) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except ClientError as exc:
        errors.append(exc)
        raise


async def _relay(
    proxy: ProxyHandler, ex: Exchange, upstream: aiohttp.ClientResponse
) -> web.StreamResponse:
    services = proxy.s
    request = ex.request
    ex.upstream_status = upstream.status
    headers = response_headers(upstream.headers.items())
    length = upstream.content_length
    if length is not None and length <= _SMALL_BODY:
        # Small bodies: one write of headers and body instead of a streamed exchange.
        with map_errors():
            body = await upstream.read()
        small = web.Response(status=upstream.status, body=body)
        for name, value in headers:
            small.headers.add(name, value)
        return small
    response = web.StreamResponse(status=upstream.status)
    for name, value in headers:
        response.headers.add(name, value)
    if length is not None:
        response.content_length = length
    proxy.decorate(ex, response)
    await response.prepare(request)
    sent = 0
    cap = services.settings.upstream.max_body_bytes
    try:
        async for chunk in upstream.content.iter_chunked(_CHUNK):
            sent += len(chunk)
            if sent > cap:
                raise ConnectionAbortedError("upstream body over the cap")
            await response.write(chunk)
    except (TimeoutError, OSError, ConnectionAbortedError) as exc:
        # Headers are out: the only truthful signal left is to cut the connection.
        log.warning("stream_aborted", request_id=ex.request_id, error=type(exc).__name__)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response
