"""Small pieces shared by the proxy and admin edges: request ids and Zuora-shaped errors."""

from __future__ import annotations

import hmac
import itertools
import os
import re
from collections.abc import Mapping

from aiohttp import web

from zproxy.errors import zuora_error_body

#: The ``Server`` header of every answer: no versions for a scanner to match.
SERVER = "zproxy"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
#: Zuora-Track-Id: at most 64 US-ASCII characters, none of : ; " '
_SAFE_TRACK = re.compile(r"^[\x21-\x7e]{1,64}$")


_ID_PREFIX = os.urandom(8).hex()  # per process: ids stay unique across workers and hosts
_ID_COUNTER = itertools.count()


def request_id_of(request: web.BaseRequest) -> str:
    """The client's ``X-Request-Id`` when it is a sane token, else a new one (no system call
    per request: a random per-process prefix and a counter)."""
    given = request.headers.get("X-Request-Id", "")
    return given if _SAFE_ID.match(given) else f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def track_id_of(request: web.BaseRequest) -> str | None:
    given = request.headers.get("Zuora-Track-Id")
    if given and _SAFE_TRACK.match(given) and not any(c in given for c in ":;\"'"):
        return given
    return None


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a secret from a header with the configured one.

    Header text that was not UTF-8 arrives with surrogates; it is compared as the bytes that
    were sent (so it never matches, and never raises).
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> web.Response:
    response = web.Response(
        status=status,
        body=zuora_error_body(code, message, request_id, **extra),
        content_type="application/json",
        headers=headers,
    )
    response.headers["Server"] = SERVER  # not aiohttp's "Python/3.x aiohttp/3.x"
    return response
