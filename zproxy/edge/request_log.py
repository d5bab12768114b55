"""The one ``request`` log event and metrics sample per answer on the proxy port (CONTRACT §4
"Logs"). Hot path: no Redis, and a keyed hash only when the read/write path did not already
compute the caller's principal."""

from __future__ import annotations

import time
from urllib.parse import unquote_plus

import structlog
from aiohttp import web

from zproxy.edge.exchange import Exchange, method_label
from zproxy.edge.services import Services
from zproxy.observability.logging import hot_lines
from zproxy.observability.metrics import UPSTREAM_SECONDS
from zproxy.policy.credentials import credential_of, fallback_principal
from zproxy.policy.sensitive import REDACTED, is_secret_key

log = structlog.get_logger("zproxy.proxy")
_IDENTITY_CHARS = 12


def logged_path(ex: Exchange) -> str:
    """The path and query, values of secret parameters (``policy.sensitive``'s names, any
    case, percent-decoded) replaced; the log's redactor still masks card numbers in it."""
    if not ex.query:
        return ex.path
    pairs = ex.query.split("&")
    for i, pair in enumerate(pairs):
        name, eq, _ = pair.partition("=")
        if eq and is_secret_key(unquote_plus(name)):
            pairs[i] = f"{name}={REDACTED}"
    return ex.path + "?" + "&".join(pairs)


def _identity(services: Services, ex: Exchange) -> str | None:
    if ex.identity is not None:
        return ex.identity[-_IDENTITY_CHARS:]
    credential = credential_of(ex.request.headers)
    if credential is None:
        return None
    try:
        principal = fallback_principal(services.hasher, credential)
    except UnicodeEncodeError:  # header bytes that were not UTF-8: hash them as they came
        raw = credential.value.encode("utf-8", "surrogateescape")
        principal = services.hasher.hash(credential.kind, raw)
    return principal[-_IDENTITY_CHARS:]


def _breaker(services: Services, ex: Exchange) -> str | None:
    route = ex.match.route if ex.match else None
    method = ex.request.method
    group = (
        route.breaker_group(method)
        if route
        else ("reads" if method in ("GET", "HEAD", "OPTIONS") else "writes")
    )
    state = services.gateway.breaker(group).state
    return None if state == "closed" else state


def log_request(
    services: Services, ex: Exchange, status: int, response: web.StreamResponse | None
) -> None:
    seconds = time.perf_counter() - ex.started
    method = method_label(ex.request.method)
    services.metrics.on_request(ex.route_name, method, status, seconds)
    spent = UPSTREAM_SECONDS.get()
    size = 0
    if response is not None:
        size = response.body_length or response.content_length or 0
    event: dict[str, object] = {
        "request_id": ex.request_id,
        "method": method,
        "route": ex.route_name,
        "path": logged_path(ex),
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "bytes": size,
        "cache": ex.cache,
        "upstream_status": ex.upstream_status,
        "upstream_ms": round(spent[0] * 1000, 2) if spent and ex.upstream_status else None,
        "identity": _identity(services, ex),
        "track_id": ex.track_id,
    }
    breaker = _breaker(services, ex)
    if breaker is not None:
        event["breaker"] = breaker
    hot = hot_lines()
    if hot is not None:
        hot.info("request", event)  # one orjson write: no processor chain on the hot path
    else:
        log.info("request", **event)
