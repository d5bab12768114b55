"""The HTTP edge: request -> validation -> route -> policy -> actions -> response.

Every response carries ``X-Request-Id`` (and ``Zuora-Track-Id`` when the request had one);
zproxy's own errors are Zuora-shaped JSON with a truthful status. One structured log event and
one metrics report per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import structlog
from aiohttp import web

from zproxy.edge.exchange import Exchange, has_body, is_upgrade, method_label, request_body_stream
from zproxy.edge.internal import handle_internal
from zproxy.edge.reads import handle_read
from zproxy.edge.responses import error_response, request_id_of, track_id_of
from zproxy.edge.services import Services
from zproxy.edge.writes import handle_write
from zproxy.errors import ClientError, UpstreamError
from zproxy.policy.headers import response_headers
from zproxy.policy.retry_after import render_retry_after
from zproxy.policy.target import validate_target
from zproxy.upstream.boundary import UpstreamStream
from zproxy.upstream.gateway import UpstreamCall

log = structlog.get_logger("zproxy.proxy")
_CHUNK = 64 * 1024
_SMALL_BODY = 256 * 1024
_BAD_FRAMING = "ZPROXY_BAD_REQUEST_FRAMING"


class ProxyHandler:
    """The catch-all handler of the proxy port. ``services`` is wired by ``zproxy.app``."""

    def __init__(self, services: Services) -> None:
        self.s = services
        self.routes = services.settings.routes

    async def dispatch(self, ex: Exchange) -> web.StreamResponse:
        if ex.path.startswith("/_zproxy/"):
            # zproxy's own namespace first: no route of the table can shadow it.
            return await handle_internal(self.s, ex)
        route = ex.match.route if ex.match else None
        method = ex.request.method
        if (
            route is not None
            and route.read is not None
            and (method == "GET" or (method == "POST" and route.read.body_keyed))
        ):
            return await handle_read(self.s, ex)
        if route is not None and route.write is not None:
            return await handle_write(self.s, ex)
        return await stream_through(self.s, ex)

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
        ex.decorate(response)
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
            headers={"Retry-After": render_retry_after(retry_after)},
        )

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


async def stream_through(services: Services, ex: Exchange) -> web.StreamResponse:
    """Forward as-is: body streamed up, response streamed down, nothing cached."""
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
            return await _relay(services, ex, upstream)
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


async def _relay(services: Services, ex: Exchange, upstream: UpstreamStream) -> web.StreamResponse:
    request = ex.request
    ex.upstream_status = upstream.status
    headers = response_headers(upstream.headers.items())
    length = upstream.content_length
    if length is not None and length <= _SMALL_BODY:
        # Small bodies: one write of headers and body instead of a streamed exchange.
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
    ex.decorate(response)
    await response.prepare(request)
    sent = 0
    cap = services.settings.upstream.max_body_bytes
    try:
        async for chunk in upstream.iter_chunks(_CHUNK):
            sent += len(chunk)
            if sent > cap:
                raise ConnectionAbortedError("upstream body over the cap")
            await response.write(chunk)
    except (UpstreamError, OSError) as exc:
        # Headers are out: the only truthful signal left is to cut the connection.
        log.warning("stream_aborted", request_id=ex.request_id, error=type(exc).__name__)
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response
