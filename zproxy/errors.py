"""One errors module, grouped by what the caller does about them.

Foreign exceptions (aiohttp, redis) are mapped to these at the boundary that catches them.
"""

from __future__ import annotations

from typing import Any

import orjson


class ZproxyError(Exception):
    """Base of every error zproxy raises on purpose."""


class ConfigError(ZproxyError):
    """Settings are wrong: stop start-up with exit code 2."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ClientError(ZproxyError):
    """The request is bad: answer ``status`` with a Zuora-shaped error; nothing goes upstream."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class UpstreamError(ZproxyError):
    """Zuora could not be reached or did not answer properly."""

    #: True when the request can't have reached Zuora (safe to queue or retry a write).
    never_sent: bool = False
    code = "ZPROXY_UPSTREAM_UNAVAILABLE"
    status = 502


class UpstreamConnectError(UpstreamError):
    never_sent = True
    status = 503


class UpstreamTimeout(UpstreamError):
    code = "ZPROXY_UPSTREAM_TIMEOUT"
    status = 504


class UpstreamProtocolError(UpstreamError):
    """Connection reset, truncated or malformed response: the outcome of a write is unknown."""

    code = "ZPROXY_UPSTREAM_BAD_RESPONSE"
    status = 502


class UpstreamBodyTooLarge(UpstreamError):
    code = "ZPROXY_UPSTREAM_BODY_TOO_LARGE"
    status = 502


class StoreUnavailable(ZproxyError):
    """Redis did not answer: reads pass through, writes are not queued."""


class NotDurable(ZproxyError):
    """Redis cannot confirm a write is on disk: never answer 202."""


class EnqueueUnknown(ZproxyError):
    """Redis failed after the enqueue may have run, and the write could not be withdrawn: it
    may be queued (and then replayed). Never answer "not queued": the outcome is unknown."""

    def __init__(self, write_id: str) -> None:
        super().__init__(f"write {write_id} may be queued")
        self.write_id = write_id


def zuora_error_body(code: str, message: str, request_id: str, **extra: Any) -> bytes:
    """A v1-shaped Zuora error body, as zproxy's own errors are answered."""
    body: dict[str, Any] = {
        "success": False,
        "reasons": [{"code": code, "message": message}],
        "requestId": request_id,
    }
    body.update(extra)
    return orjson.dumps(body)
