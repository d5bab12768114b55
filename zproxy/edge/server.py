"""The low-level aiohttp server of the proxy port, with Zuora-shaped errors everywhere.

aiohttp answers unparsable requests (bad request line, too many headers, smuggling attempts)
and unhandled exceptions itself, in text and with request excerpts in its log. Here those
answers are JSON in Zuora's shape, with a fixed message and no excerpt, and the connection is
closed.

aiohttp's C parser (llhttp) is the one to deploy: most request-smuggling advisories were in
the pure-Python parser that ``AIOHTTP_NO_EXTENSIONS=1`` selects. Both refuse the smuggling
shapes tested in ``tests/security``, but the Python client parser accepts, for instance, two
``Content-Length`` headers in Zuora's responses, so start-up warns when it is in use.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Protocol, runtime_checkable

import structlog
from aiohttp import http_parser, web
from aiohttp.http_exceptions import BadStatusLine
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo

from zproxy.edge.responses import error_response, request_id_of

log = structlog.get_logger("zproxy.http")
#: A request line as RFC 9112 §3 has it: one space between method, target and version.
#: llhttp (as aiohttp builds it) also takes runs of spaces there; those are refused.
_REQUEST_LINE = re.compile(rb"[!-~]+ [^ \r\n]+ HTTP/1\.[01]\r?")
_MAX_LINE = 8190


@runtime_checkable
class ErrorReporter(Protocol):
    """The proxy handler's side of answers aiohttp makes itself (unparsable requests)."""

    def report_error(self, request: web.BaseRequest, request_id: str, status: int) -> None: ...


class _JsonErrorRequestHandler(RequestHandler):
    _first_line: bytearray | None
    _handled = 0  # requests whose handling ended (``_request_count`` counts those parsed)
    _half_closed = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first_line = bytearray()

    async def _handle_request(self, request: web.BaseRequest, *args: Any) -> Any:
        if self._half_closed:
            _cut_short(request)
        try:
            return await super()._handle_request(request, *args)
        finally:
            self._handled += 1

    def data_received(self, data: bytes) -> None:
        # The connection's first request line (gathered across chunks) is checked for its
        # spacing and version before the lenient parser sees it. Later request lines are not:
        # the parser's position is not known here without parsing (the handler still refuses
        # versions other than 1.0 and 1.1 on them).
        line = self._first_line
        if line is not None:
            end = data.find(b"\n")
            line += data if end < 0 else data[:end]
            if end >= 0 or len(line) > _MAX_LINE:
                self._first_line = None
                if end >= 0 and not _REQUEST_LINE.fullmatch(line):
                    self._refuse(BadStatusLine("request line"))
                    return
        super().data_received(data)

    def _refuse(self, exc: BadStatusLine) -> None:
        self._request_count += 1
        self._messages.append((_ErrInfo(status=400, exc=exc, message="bad line"), EMPTY_PAYLOAD))
        self._close = True  # nothing after it is parsed; the connection ends with the answer
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client half-closed (``shutdown(SHUT_WR)``): a request it already sent is
        still answered, then the connection ends. A body cut short by the close fails the
        request as a disconnected client (it is not forwarded complete)."""
        self._half_closed = True
        if self._current_request is not None:
            _cut_short(self._current_request)
        if self._request_count > self._handled:
            self._close = True
            return True  # keep the transport open for the answer
        return None

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; closing the connection")
        if isinstance(exc, ConnectionError):
            # The proxy handler found the client gone (and logged it): nobody to answer.
            raise ConnectionError("client disconnected") from exc
        request_id = request_id_of(request)
        if status >= 500 and exc is not None:
            log.error("unhandled_error", status=status, exc_info=exc)
        else:
            log.warning("http_error", status=status, error=type(exc).__name__ if exc else None)
        if status >= 500:
            code, text = "ZPROXY_INTERNAL_ERROR", "zproxy failed to handle the request"
        else:
            code = "ZPROXY_BAD_REQUEST"
            text = f"The request is not acceptable HTTP ({HTTPStatus(status).phrase})"
        resp = error_response(status, code, text, request_id)
        resp.headers["X-Request-Id"] = request_id
        resp.force_close()
        reporter: Any = self._manager.request_handler if self._manager is not None else None
        if isinstance(reporter, ErrorReporter):
            try:
                reporter.report_error(request, request_id, status)
            except Exception as report_exc:  # the answer goes out all the same
                log.error("request_log_failed", exc_info=report_exc)
        return resp


def _cut_short(request: web.BaseRequest) -> None:
    if not request.content.is_eof():
        request.content.set_exception(ConnectionResetError("client closed mid-body"))


def c_parser_in_use() -> bool:
    """False when aiohttp runs its pure-Python HTTP parser (``AIOHTTP_NO_EXTENSIONS``)."""
    return http_parser.HttpRequestParser is not http_parser.HttpRequestParserPy


class ProxyServer(web.Server):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not c_parser_in_use():
            log.warning(
                "aiohttp_pure_python_parser",
                reason="aiohttp's C extensions are off (AIOHTTP_NO_EXTENSIONS?); deploy with them",
            )

    def __call__(self) -> RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)
