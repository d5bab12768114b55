"""Which headers cross the proxy (RFC 9110 §7.6.1): hop-by-hop ones never do, in either
direction, and request headers that could poison a cache or steer the upstream are dropped.
Header values cross only when they are plain text (no CR, LF, NUL or other controls, nothing
that did not decode as UTF-8), either way: a lenient parser must not let Zuora's bytes split
the client's response, and a value aiohttp cannot re-encode must not become a 500."""

from __future__ import annotations

import re
from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "transfer-encoding",
        "upgrade",
        "trailer",
        "proxy-authorization",
        "proxy-authenticate",
    }
)

#: Request headers zproxy sets itself or that must never steer the upstream.
_REQUEST_DROP = frozenset(
    {
        "host",
        "content-length",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "expect",
    }
)

#: Controls other than HTAB, DEL, and the surrogates left by bytes that were not UTF-8.
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")

#: Response headers recomputed by zproxy.
_RESPONSE_DROP = frozenset({"content-length", "server", "date"})


def connection_named(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The header names a ``Connection`` header declares hop-by-hop (lowercase)."""
    named: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(","))
    return frozenset(named)


def request_headers(
    headers: Iterable[tuple[str, str]], *, drop_accept_encoding: bool = False
) -> list[tuple[str, str]]:
    """End-to-end request headers to forward (zproxy adds Host and X-Forwarded-*)."""
    items = list(headers)
    named = connection_named(items)
    out = []
    for name, value in items:
        low = name.lower()
        if low in HOP_BY_HOP or low in _REQUEST_DROP or low in named:
            continue
        if drop_accept_encoding and low == "accept-encoding":
            continue
        if not safe_value(value):
            continue  # bytes that were not UTF-8 cannot be relayed faithfully
        out.append((name, value))
    return out


def safe_value(value: str) -> bool:
    """True when a header value can be written to a client as it is."""
    return _UNSAFE_VALUE.search(value) is None


def response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """End-to-end response headers to relay; unsafe ones (``safe_value``) are dropped."""
    items = list(headers)
    named = connection_named(items)
    return [
        (name, value)
        for name, value in items
        if (low := name.lower()) not in HOP_BY_HOP
        and low not in _RESPONSE_DROP
        and low not in named
        and safe_value(name)
        and safe_value(value)
    ]
