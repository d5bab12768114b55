"""zproxy's own endpoints on the proxy port, under ``/_zproxy/`` (never forwarded):

- ``GET /_zproxy/writes/{id}``: a queued write's state, for the identity that queued it (404
  for anyone else, so ids reveal nothing).
- ``POST /_zproxy/callouts``: Zuora's notifications (order processed, account or subscription
  changed) purge the cache tags they name; authenticated by the configured shared secret.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from zproxy.edge.exchange import Exchange, read_body
from zproxy.edge.responses import error_response, same_secret
from zproxy.edge.services import Services
from zproxy.errors import ClientError, StoreUnavailable

_FIELD_TAGS = {
    "accountnumber": "account",
    "account": "account",
    "accountid": "account",
    "subscriptionnumber": "subscription",
    "subscriptionname": "subscription",
    "subscription": "subscription",
    "ordernumber": "order",
    "invoicenumber": "invoice",
}


async def handle_internal(s: Services, ex: Exchange) -> web.StreamResponse:
    method = ex.request.method
    if ex.path.startswith("/_zproxy/writes/") and method in ("GET", "HEAD"):
        return await _write_status(s, ex, ex.path.removeprefix("/_zproxy/writes/"))
    if ex.path == "/_zproxy/callouts" and method == "POST":
        return await _callout(s, ex)
    return error_response(404, "ZPROXY_NOT_FOUND", "No such zproxy endpoint", ex.request_id)


async def _write_status(s: Services, ex: Exchange, write_id: str) -> web.Response:
    not_found = error_response(404, "ZPROXY_WRITE_NOT_FOUND", "No such queued write", ex.request_id)
    caller = await s.identities.caller(ex.request.headers)
    if caller is None or s.writes is None or not write_id or "/" in write_id:
        return not_found
    try:
        record = await s.writes.queue.get(write_id)
    except StoreUnavailable:
        return error_response(
            503,
            "ZPROXY_STORE_UNAVAILABLE",
            "The write queue is unavailable",
            ex.request_id,
            headers={"Retry-After": "5"},
        )
    if record is None or not hmac.compare_digest(record.write.identity, caller.identity.principal):
        return not_found
    return web.Response(body=orjson.dumps(record.status_view()), content_type="application/json")


def callout_tags(doc: object) -> list[str]:
    """Tags named by a callout: explicit ``tags``, else Zuora's field names mapped to tags."""
    tags: list[str] = []
    if isinstance(doc, dict):
        explicit = doc.get("tags")
        if isinstance(explicit, list):
            tags += [t for t in explicit if isinstance(t, str) and t]
        for name, value in doc.items():
            prefix = _FIELD_TAGS.get(str(name).replace("_", "").replace(".", "").lower())
            values = value if isinstance(value, list) else [value]
            for v in values:
                if prefix and isinstance(v, str | int) and str(v):
                    tags.append(f"{prefix}:{v}")
        if str(doc.get("object", "")).lower() in ("product", "catalog", "productrateplan"):
            tags.append("catalog")
    return list(dict.fromkeys(tags))


async def _callout(s: Services, ex: Exchange) -> web.Response:
    secret = s.settings.cache.callout_secret
    request = ex.request
    given = request.headers.get("X-Callout-Secret", "")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = given or token
    if not secret:
        return error_response(
            403,
            "ZPROXY_CALLOUTS_DISABLED",
            "Set ZPROXY_CALLOUT_SECRET to accept callouts",
            ex.request_id,
        )
    if not given or not same_secret(given, secret):
        return error_response(
            401, "ZPROXY_CALLOUT_UNAUTHORIZED", "Missing or wrong secret", ex.request_id
        )
    body = await read_body(request, 1024 * 1024, s.settings.server.body_read_timeout)
    doc: object
    try:
        doc = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        doc = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    tags = callout_tags(doc)
    if not tags:
        raise ClientError(400, "ZPROXY_CALLOUT_EMPTY", "The callout names nothing to purge")
    try:
        # A soft purge: what changed is fetched again, and still beats an error during an
        # outage (stale-if-error).
        purged = await s.cache.invalidate_tags(tags)
    except StoreUnavailable:
        return error_response(
            503,
            "ZPROXY_STORE_UNAVAILABLE",
            "The cache is unavailable",
            ex.request_id,
            headers={"Retry-After": "5"},
        )
    return web.Response(
        body=orjson.dumps({"success": True, "purged": purged, "tags": tags}),
        content_type="application/json",
    )
