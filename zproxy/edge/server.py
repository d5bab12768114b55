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

from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import http_parser, web
from aiohttp.web_protocol import RequestHandler

from zproxy.edge.responses import error_response, request_id_of

log = structlog.get_logger("zproxy.http")


class _JsonErrorRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; closing the connection")
        if status >= 500 and exc is not None:
            log.error("unhandled_error", status=status, exc_info=exc)
        else:
            log.warning("http_error", status=status, error=type(exc).__name__ if exc else None)
        if status >= 500:
            code, text = "ZPROXY_INTERNAL_ERROR", "zproxy failed to handle the request"
        else:
            code = "ZPROXY_BAD_REQUEST"
            text = f"The request is not acceptable HTTP ({HTTPStatus(status).phrase})"
        resp = error_response(status, code, text, request_id_of(request))
        resp.force_close()
        return resp


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
