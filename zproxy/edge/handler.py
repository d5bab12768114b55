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

from zproxy.edge.exchange import (
    ALLOWED_METHODS,
    BODY_DEADLINE,
    Exchange,
    has_body,
    is_upgrade,
    request_body_stream,
)
from zproxy.edge.internal import handle_internal
from zproxy.edge.journey import report_journey
from zproxy.edge.reads import handle_read
from zproxy.edge.recorder import Recorder
from zproxy.edge.request_log import log_request
from zproxy.edge.responses import error_response, request_id_of, track_id_of
from zproxy.edge.services import Services
from zproxy.edge.writes import handle_write
from zproxy.errors import ClientError, UpstreamError
from zproxy.observability.metrics import UPSTREAM_SECONDS
from zproxy.policy.headers import response_headers
from zproxy.policy.retry_after import render_retry_after
from zproxy.policy.target import validate_target
from zproxy.upstream.boundary import UpstreamStream
from zproxy.upstream.gateway import UpstreamCall

log = structlog.get_logger("zproxy.proxy")
_CHUNK = 64 * 1024
_SMALL_BODY = 256 * 1024
_BAD_FRAMING = "ZPROXY_BAD_REQUEST_FRAMING"
_UNSUPPORTED_CODING = "ZPROXY_NOT_IMPLEMENTED"
#: Errors after which the rest of the connection cannot be trusted (framing unknown).
_CLOSING = frozenset({_BAD_FRAMING, _UNSUPPORTED_CODING})


class ProxyHandler:
    """The catch-all handler of the proxy port. ``services`` is wired by ``zproxy.app``."""

    def __init__(self, services: Services, recorder: Recorder | None = None) -> None:
        self.s = services
        self.recorder = recorder
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
        UPSTREAM_SECONDS.set([0.0])
        server = self.s.settings.server
        BODY_DEADLINE.set(asyncio.get_running_loop().time() + server.body_total_timeout)
        try:
            check_framing(request)
            ex.path, ex.query = validate_target(request.raw_path)
            ex.match = self.routes.match(request.method, ex.path)
            await _expect_continue(request, server.max_request_body)
            response = await self.dispatch(ex)
        except ClientError as exc:
            response = error_response(exc.status, exc.code, exc.message, ex.request_id)
            if exc.code in _CLOSING:
                response.force_close()
            if exc.status == 405:
                response.headers["Allow"] = ", ".join(ALLOWED_METHODS)
        except UpstreamError as exc:
            if _client_gone(request, exc):
                return self.client_gone(ex, exc)
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
        except Exception as exc:
            if _client_gone(request, exc):
                return self.client_gone(ex, exc)
            log.error("unhandled_error", request_id=ex.request_id, exc_info=exc)
            response = error_response(
                500, "ZPROXY_INTERNAL_ERROR", "zproxy failed to handle the request", ex.request_id
            )
            response.force_close()
        if is_upgrade(request):
            response.force_close()
        ex.decorate(response)
        if not response.prepared:
            try:
                await response.prepare(request)
            except ConnectionError as exc:
                return self.client_gone(ex, exc)
        self.finish(ex, response.status, response)
        return response

    def client_gone(self, ex: Exchange, exc: BaseException) -> web.StreamResponse:
        """The client went away (reset, or closed mid-body): nobody to answer. Logged as a
        499, aiohttp's error path is told not to answer (``ConnectionError``)."""
        log.info(
            "client_disconnected",
            request_id=ex.request_id,
            route=ex.route_name,
            error=type(exc).__name__,
        )
        self.finish(ex, 499)
        raise ConnectionResetError("client disconnected")

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

    def finish(self, ex: Exchange, status: int, response: web.StreamResponse | None = None) -> None:
        log_request(self.s, ex, status, response)
        if self.recorder is not None:
            self.recorder.record(ex, status, time.perf_counter() - ex.started)
        report_journey(self.s, ex, status, response)

    def report_error(self, request: web.BaseRequest, request_id: str, status: int) -> None:
        """An answer aiohttp made itself (the request did not parse): logged and counted."""
        ex = Exchange(request, request_id, None, "", "", None, time.perf_counter())
        ex.path = "-"
        log_request(self.s, ex, status, None)


async def _expect_continue(request: web.BaseRequest, limit: int) -> None:
    """RFC 9110 §10.1.1: ``Expect: 100-continue`` is answered with an interim 100 once the
    request is acceptable, before its body is read; any other expectation is a 417."""
    expect = request.headers.get("Expect")
    if expect is None:
        return
    if expect.strip().lower() != "100-continue":
        raise ClientError(417, "ZPROXY_EXPECTATION_FAILED", "Only 100-continue is supported")
    if request.version != aiohttp.HttpVersion11 or not has_body(request):
        return
    if request.content_length is not None and request.content_length > limit:
        return  # the 413 comes without the body
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def _client_gone(request: web.BaseRequest, exc: BaseException) -> bool:
    """Whether ``exc`` comes of the client going away: its connection is closed, or its
    body ended early (reset, or half-closed mid-body: see ``server.eof_received``)."""
    transport = request.transport
    if isinstance(exc, ConnectionError) or transport is None or transport.is_closing():
        return True
    return isinstance(request.content.exception(), ConnectionError)


def check_framing(request: web.BaseRequest) -> None:
    """RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing (a peer
    in front may have read it by Content-Length or to the close). Refuse it, and CONNECT
    (zproxy opens no tunnels); the connection is closed. Only HTTP/1.0 and 1.1 are spoken,
    only the ``chunked`` transfer coding is understood (501 otherwise), and only the
    methods of ``ALLOWED_METHODS`` are forwarded (405 with ``Allow`` otherwise)."""
    if request.version not in (aiohttp.HttpVersion10, aiohttp.HttpVersion11):
        # Answer in HTTP/1.1, not in the version the client claimed (``version`` is reified).
        request._cache["version"] = aiohttp.HttpVersion11
        raise ClientError(400, _BAD_FRAMING, "Only HTTP/1.0 and HTTP/1.1 are supported")
    codings = request.headers.getall("Transfer-Encoding", ())
    if codings and request.version < aiohttp.HttpVersion11:
        raise ClientError(400, _BAD_FRAMING, "Transfer-Encoding is not allowed in HTTP/1.0")
    if codings and [c.strip().lower() for c in ",".join(codings).split(",")] != ["chunked"]:
        raise ClientError(501, _UNSUPPORTED_CODING, "Only the chunked transfer coding is supported")
    if request.method == "CONNECT":
        raise ClientError(400, _BAD_FRAMING, "CONNECT is not supported")
    if request.method not in ALLOWED_METHODS:
        raise ClientError(405, "ZPROXY_METHOD_NOT_ALLOWED", "The method is not allowed")


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
