"""The low-level aiohttp server of the proxy port, with Zuora-shaped errors everywhere.

aiohttp answers unparsable requests (bad request line, too many headers, smuggling attempts)
and unhandled exceptions itself, in text and with request excerpts in its log. Here those
answers are JSON in Zuora's shape, with a fixed message and no excerpt, and the connection is
closed.
"""

from __future__ import annotations

from http import HTTPStatus

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from zproxy.http_common import error_response, request_id_of

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


class ProxyServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)
